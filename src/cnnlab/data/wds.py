"""Sharded tar archives in the WebDataset layout: ``--data wds:PATTERN`` or ``--data wds:FOLDER``.

A *shard* is an uncompressed tar file; a *sample* is the group of its members that share a key
(the member name up to the first dot of its file name): ``000123.jpg`` + ``000123.cls`` is one
image with its class index (decimal text). This is the layout the ``webdataset`` library reads
and writes (Aizman et al. 2020, "High Performance I/O For Large Scale Deep Learning").

- ``wds:/data/shards-{000000..000099}.tar`` (brace ranges keep their zero padding; ``{a,b}``
  lists too): the training images; the validation split is carved by ``--val-split``.
- ``wds:FOLDER``: a folder written by :func:`write_shards` (``cnnlab shard``): ``train-*.tar``,
  optional ``val-*.tar`` / ``test-*.tar``, and ``classes.txt`` (one class name per line).

Class names come from ``classes.txt`` beside the shards (else ``0``, ``1``, ...). The reader
indexes each shard's members once (their headers only) and reads every image by its byte range,
so the shards serve random access: the same batches, ``--data-cache`` modes and exact resume as
an image folder, with a few large files instead of millions of small ones.
"""

from __future__ import annotations

import itertools
import os
import re
import tarfile
from pathlib import Path

from ..errors import CnnlabError
from . import cache
from .dataset import DataSplits
from .decode import TarMember
from .decoded import decode_items, stored_size
from .imagefolder import IMAGE_EXTENSIONS, find_layout, readable_mask, split_parts
from .options import DataOptions

SPLIT_PREFIXES = ("train", "val", "test")
MAX_LABEL_BYTES = 32  # a .cls member is a decimal class index
HINT = (
    "a shard is an uncompressed tar of samples KEY.jpg (or .png, ...) + KEY.cls (the class index as text); "
    "make them from an image folder with `cnnlab shard FOLDER OUT`"
)


def expand(pattern: str) -> list[str]:
    """Brace expansion as the WebDataset tools do it: ``{000..012}`` (zero padding kept) and ``{a,b}``."""
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    body, head, tail = m.group(1), pattern[: m.start()], pattern[m.end() :]
    r = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if r:
        lo, hi = int(r.group(1)), int(r.group(2))
        width = len(r.group(1)) if r.group(1).startswith("0") else 0
        parts = [str(i).zfill(width) for i in range(lo, hi + 1)]
    else:
        parts = body.split(",")
    return [name for p in parts for name in expand(head + p + tail)]


def shard_lists(spec: str) -> tuple[dict[str, list[Path]], Path]:
    """({split: shard paths}, the folder that may hold classes.txt) of a pattern or a shard folder."""
    root = Path(spec).expanduser()
    if root.is_dir():
        found = {s: sorted(root.glob(f"{s}-*.tar")) for s in SPLIT_PREFIXES}
        if not found["train"]:
            raise CnnlabError(f"wds: {root} holds no train-*.tar shards", HINT)
        return {s: p for s, p in found.items() if p}, root
    paths = [Path(p) for p in expand(str(root))]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CnnlabError(
            f"wds: shard {missing[0]} not found{more}",
            "give the shards as a brace pattern, e.g. wds:/data/shards-{000000..000009}.tar, or the "
            "folder `cnnlab shard` wrote",
        )
    return {"train": paths}, paths[0].parent


def split_name(name: str) -> tuple[str, str]:
    """(key, extension) of a member name: the key ends at the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def index_shard(path: Path) -> list[tuple[str, TarMember, int]]:
    """(key, image member, class index) of every sample of one shard, in archive order."""
    samples: dict[str, dict[str, tarfile.TarInfo]] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            with open(path, "rb") as raw:
                for info in tar:
                    if info.isfile():
                        key, ext = split_name(info.name)
                        samples.setdefault(key, {})[ext] = info
                out = [_sample(path, key, members, raw) for key, members in samples.items()]
    except (tarfile.TarError, OSError) as e:
        raise CnnlabError(f"wds: {path} is not a readable tar archive ({e})", HINT) from None
    return out


def _sample(path: Path, key: str, members: dict, raw) -> tuple[str, TarMember, int]:
    images = [ext for ext in members if f".{ext}" in IMAGE_EXTENSIONS]
    if not images or "cls" not in members:
        what = "no image" if not images else "no .cls label"
        raise CnnlabError(f"wds: sample {key!r} in {path} has {what} (members: {', '.join(sorted(members))})", HINT)
    cls = members["cls"]
    raw.seek(cls.offset_data)
    text = raw.read(min(cls.size, MAX_LABEL_BYTES + 1)).decode("ascii", "replace").strip()
    if cls.size > MAX_LABEL_BYTES or not text.isdigit():
        raise CnnlabError(f"wds: {path}:{cls.name} holds {text[:20]!r}, not a class index", HINT)
    img = members[images[0]]
    return key, TarMember(str(path), img.offset_data, img.size, img.name), int(text)


def read_classes(folder: Path, n_labels: int) -> list[str]:
    file = folder / "classes.txt"
    if not file.is_file():
        return [str(i) for i in range(n_labels)]
    names = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) < n_labels:
        raise CnnlabError(
            f"wds: {file} names {len(names)} classes but the shards use class index {n_labels - 1}",
            "one class name per line, in class-index order",
        )
    return names


def read_wds(spec: str, options: DataOptions) -> DataSplits:
    shards, folder = shard_lists(spec)
    items, labels, part_of = [], [], []
    for k, split in enumerate(SPLIT_PREFIXES):
        for path in shards.get(split, []):
            for _, member, label in index_shard(path):
                items.append(member)
                labels.append(label)
                part_of.append(k)
    if not items:
        raise CnnlabError(f"wds: the shards of {spec} hold no samples", HINT)
    classes = read_classes(folder, max(labels) + 1)
    size, channels = stored_size(options)
    key = {
        "format": "wds",
        "size": size,
        "channels": channels,
        "files": cache.file_key(p for split in SPLIT_PREFIXES for p in shards.get(split, [])),
    }
    decoded = decode_items("wds", items, key, options, "wds")
    keep = readable_mask(decoded, items, options, "wds")
    train, val, test = split_parts(decoded.images, labels, part_of, keep, classes, "wds")
    n = sum(len(v) for v in shards.values())
    source = (
        f"{spec} ({n} shard{'s' if n != 1 else ''}: {', '.join(shards)}, stored at {channels}x{size}x{size}"
        + ("" if decoded.mode == "memory" else f", --data-cache {decoded.mode}")
        + ")"
    )
    return DataSplits(
        "wds", train, val, source=source, notes=decoded.notes, test_reader=test if "test" in shards else None
    )


# ----------------------------------------------------------------------------------------------
# writing shards from an image folder


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # reproducible: no time, owner or host in the archive
    tar.addfile(info, io.BytesIO(data))


def _write_split(out: Path, split: str, files: list[tuple[Path, int]], per_shard: int) -> list[Path]:
    written = []
    for s, start in enumerate(range(0, len(files), per_shard)):
        path = out / f"{split}-{s:06d}.tar"
        tmp = path.with_name(f".{path.name}.tmp")
        with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for i, (file, label) in enumerate(files[start : start + per_shard], start):
                key = f"{i:08d}"
                _add(tar, f"{key}{file.suffix.lower()}", file.read_bytes())
                _add(tar, f"{key}.cls", str(label).encode())
        os.replace(tmp, path)
        written.append(path)
    return written


def write_shards(folder: str | Path, out: str | Path, per_shard: int = 1000) -> dict[str, list[Path]]:
    """Pack an image folder (``cnnlab.data.imagefolder`` layouts) into WebDataset shards in ``out``:
    ``train-000000.tar`` ... (and ``val-``/``test-`` from ``val/``, ``test/``), ``classes.txt``.
    The image files' bytes are stored as they are, in the order the image-folder reader lists them."""
    if per_shard < 1:
        raise CnnlabError(f"per_shard={per_shard}", "use a positive number of images per shard, e.g. 1000")
    layout = find_layout(Path(folder).expanduser())
    classes = sorted(layout[0])
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, part in zip(SPLIT_PREFIXES, layout):
        if part:
            files = list(
                itertools.chain.from_iterable([(p, classes.index(name)) for p in part[name]] for name in sorted(part))
            )
            written[split] = _write_split(out, split, files, per_shard)
    (out / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    return written
