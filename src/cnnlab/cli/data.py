"""``cnnlab data [NAME[:PATH]]``: list the data sets, or load one and print its class counts.

:func:`add_data_arguments` and :func:`data_options_from_args` are shared with ``cnnlab train``: they
turn every :class:`~cnnlab.data.options.DataOptions` field into an option.
"""

from __future__ import annotations

import argparse

from .common import Formatter


def add_data_arguments(p: argparse.ArgumentParser, seed: bool = True) -> None:
    """The DataOptions fields as options (``--val-split``, ``--image-size``, ``--bad-images`` ...)."""
    g = p.add_argument_group("data options")
    g.add_argument(
        "--val-split",
        type=float,
        default=None,
        metavar="F|N",
        help="validation split carved from the training images, seeded and stratified: a fraction F of "
        "each class, N images, or 0 for none (default: 10%%, 5,000 for CIFAR, an image folder's "
        "val/); the official test split is never used for validation",
    )
    if seed:
        g.add_argument("--seed", type=int, default=0, help="seed of the --val-split draw")
    g.add_argument(
        "--image-size",
        type=int,
        default=None,
        metavar="S",
        help="stored side in pixels: imagefolder images are resized (shorter side) and centre-cropped "
        "to SxS (default 64); MNIST/CIFAR are resized once at load if S is given",
    )
    g.add_argument("--channels", type=int, choices=(1, 3), default=3, help="imagefolder: 3 = RGB, 1 = greyscale")
    g.add_argument(
        "--bad-images",
        choices=("error", "skip"),
        default="error",
        help="imagefolder: stop at the first unreadable image (naming it), or skip and count them",
    )
    g.add_argument(
        "--workers", type=int, default=0, help="imagefolder decode processes (0: the cores this process may use)"
    )
    g.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="decode again instead of reading the decoded arrays from the cache",
    )
    g.add_argument(
        "--cache-dir",
        default=None,
        help="where decoded arrays are cached (default $CNNLAB_CACHE, else ~/.cache/cnnlab)",
    )
    g.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="decoded images in memory only up to this size (default: $CNNLAB_DATA_MEMORY, e.g. 8G, "
        "else half the available memory)",
    )
    g.add_argument(
        "--data-cache",
        choices=("auto", "memory", "disk", "none"),
        default="auto",
        help="imagefolder / wds: where the decoded images live while training: memory, disk (decoded "
        "once into a memory-mapped cache file), none (decoded from the files at every batch), or "
        "auto (memory if they fit --max-memory-gb, else disk)",
    )
    g.add_argument(
        "--loader-workers",
        type=int,
        default=None,
        metavar="N",
        help="processes that read, decode and augment a streamed (disk/none) training set, each "
        "taking one core from the compute threads (default: 1 per 8 cores, at least 1, leaving 1 "
        "core to compute; 0: in the training process)",
    )


def data_options_from_args(args: argparse.Namespace, progress: bool = True):
    from ..data import DataOptions

    return DataOptions.make(
        val_split=args.val_split,
        seed=getattr(args, "seed", 0),
        image_size=args.image_size,
        channels=args.channels,
        bad_images=args.bad_images,
        workers=args.workers,
        cache=args.cache,
        cache_dir=args.cache_dir,
        max_memory_gb=args.max_memory_gb,
        data_cache=args.data_cache,
        loader_workers=args.loader_workers,
        progress=progress,
    )


def register(sub) -> None:
    p = sub.add_parser(
        "data",
        help="list data sets, or load one and show its splits",
        formatter_class=Formatter,
        description="Without an argument: the data set names and what each PATH must hold.\n"
        "With NAME[:PATH]: load it and print sizes and per-class counts; with\n"
        "--preview, save a grid of (augmented) training images as a PNG.\n\n"
        "augmentations (--augment, comma-separated, applied to whole batches):\n"
        + "\n".join(f"  {h}" for h in _augment_help())
        + "\n\nexamples: cnnlab data\n"
        "          cnnlab data cifar10:~/data/cifar-10-batches-py\n"
        "          cnnlab data imagefolder:~/photos --val-split 0.1 --image-size 96 "
        "--bad-images skip\n"
        "          cnnlab data cifar10:PATH --augment crop=4,flip,cutout=8 "
        "--preview aug.png",
    )
    p.add_argument("spec", nargs="?", metavar="NAME[:PATH]", help="data set to load and describe")
    add_data_arguments(p)
    p.add_argument(
        "--augment",
        default="",
        metavar="SPEC",
        help="augmentation for --preview, e.g. crop=4,flip or rrc=0.35,flip,jitter=0.4",
    )
    p.add_argument(
        "--preview",
        default=None,
        metavar="PNG",
        help="save an 8x8 grid of training images (augmented with --augment) to this file",
    )
    p.set_defaults(func=run)


def _augment_help() -> list[str]:
    from ..data.transforms import AUGMENT_HELP, ORDER

    return [AUGMENT_HELP[n] for n in ORDER]


def run(args) -> int:
    from ..data import SOURCES, load_data

    if args.spec:
        if args.preview:
            from .common import IMAGE_SUFFIXES, check_output_path

            check_output_path(args.preview, "--preview", IMAGE_SUFFIXES)
        data = load_data(args.spec, data_options_from_args(args))
        print(data.describe())
        if args.preview:
            print(f"preview: {save_preview(data, args.augment, args.preview, args.seed)}")
        return 0
    if args.preview:
        from ..errors import CnnlabError

        raise CnnlabError("--preview needs a data set", "e.g. cnnlab data mnist-sample --preview grid.png")
    width = max(len(n) for n in SOURCES)
    for name, src in SOURCES.items():
        usage = name + (":PATH" if src.needs_path else "")
        print(f"{usage:<{width + 5}}  {src.expects}")
    return 0


def save_preview(data, augment: str, path: str, seed: int = 0, n: int = 64) -> str:
    """An 8 x 8 grid of the first training images after ``augment``, as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ..data import parse_augment

    images = data.train.images[:n]
    transform = parse_augment(augment, data.train.image_shape, stats=data)
    if transform is not None:
        images = transform(images, torch.Generator().manual_seed(seed))
    images = images.float().clamp(0, 255).div(255)
    cols = 8
    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, label in zip(axes.flat, images, data.train.labels[:n].tolist()):
        arr = img.permute(1, 2, 0).numpy()
        ax.imshow(
            arr[..., 0] if arr.shape[-1] == 1 else arr,
            cmap="gray" if arr.shape[-1] == 1 else None,
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_title(data.classes[label][:12], fontsize=7)
    fig.suptitle(f"{data.name}: {augment or 'no augmentation'}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
