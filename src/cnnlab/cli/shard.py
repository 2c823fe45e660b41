"""``cnnlab shard FOLDER OUT``: pack an image folder into WebDataset shards (``--data wds:OUT``)."""

from __future__ import annotations

from .common import Formatter


def register(sub) -> None:
    p = sub.add_parser(
        "shard",
        help="pack an image folder into WebDataset tar shards",
        formatter_class=Formatter,
        description="Write the images of an image folder (PATH/CLASS/img.jpg, or PATH/train/..., "
        "PATH/val/..., PATH/test/...) into uncompressed tar shards in the WebDataset "
        "layout: OUT/train-000000.tar, ... (KEY.jpg + KEY.cls per image, the file bytes "
        "as they are), val-/test- shards for val/ and test/, and OUT/classes.txt. "
        "Train on them with --data wds:OUT: a few large files instead of millions of "
        "small ones, read at random by byte range.\n\n"
        "examples:\n  cnnlab shard ~/photos /data/photos-wds --per-shard 1000\n"
        "  cnnlab train resnet18 --data wds:/data/photos-wds --data-cache disk",
    )
    p.add_argument("folder", help="the image folder to pack")
    p.add_argument("out", help="the folder the shards are written to (created if needed)")
    p.add_argument("--per-shard", type=int, default=1000, metavar="N", help="images per shard (default 1000)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..data.wds import write_shards

    written = write_shards(args.folder, args.out, args.per_shard)
    for split, paths in written.items():
        print(f"{split}: {len(paths)} shard{'s' if len(paths) != 1 else ''} ({paths[0].name} .. {paths[-1].name})")
    print(f"classes: {args.out}/classes.txt; train with --data wds:{args.out}")
    return 0
