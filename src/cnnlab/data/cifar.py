"""CIFAR-10 and CIFAR-100 from the official python pickle batches (Krizhevsky 2009).

CIFAR-10 (``cifar-10-batches-py/``): ``data_batch_1`` ... ``data_batch_5`` (training, 10,000
images each), ``test_batch`` (10,000) and ``batches.meta`` (``label_names``). CIFAR-100
(``cifar-100-python/``): ``train`` (50,000), ``test`` (10,000) and ``meta`` (``fine_label_names``,
``coarse_label_names``); we use the 100 fine labels. Each batch is a dict whose ``data`` is a
N x 3072 uint8 array (1024 red, 1024 green, 1024 blue values, rows of 32) and whose labels are a
list of ints. Any batch file may also be stored gzip- or xz-compressed (``data_batch_1.xz``);
the compression is recognised from the file's first bytes. Files are unpickled by
:mod:`cnnlab.data.safe_pickle`, never by plain ``pickle.load``.
"""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError
from . import cache
from .dataset import DataSplits, ImageDataset
from .safe_pickle import load_data_pickle

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

LAYOUTS = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
        "names": b"label_names",
        "labels": b"labels",
        "classes": 10,
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "names": b"fine_label_names",
        "labels": b"fine_labels",
        "classes": 100,
    },
}

_GZIP, _XZ = b"\x1f\x8b", b"\xfd7zXZ\x00"


def find_batch(root: Path, name: str) -> Path | None:
    """``root/name``, ``root/name.gz`` or ``root/name.xz``, whichever exists first."""
    for cand in (root / name, root / f"{name}.gz", root / f"{name}.xz"):
        if cand.is_file():
            return cand
    return None


MAX_BATCH_BYTES = 1 << 30  # CIFAR-100's train file, the largest, is 155 MB


def read_bytes(path: Path, limit: int = MAX_BATCH_BYTES) -> bytes:
    """The file's bytes, gunzipped or un-xz'd when its first bytes say so; more than ``limit`` bytes
    (a decompression bomb, or not a CIFAR file) is refused."""
    from ..images import check_regular_file

    check_regular_file(path, "a CIFAR batch file")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
        opener = gzip.open if head.startswith(_GZIP) else lzma.open if head.startswith(_XZ) else open
        with opener(path, "rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise CnnlabError(
                f"{path}: holds more than {limit / 2**30:.0f} GiB (decompressed); no CIFAR batch is that large",
                "is this the right file? fetch the official cifar-10/100-python files",
            )
        return data
    except (OSError, EOFError, lzma.LZMAError) as e:
        raise CnnlabError(
            f"{path}: cannot decompress ({e.__class__.__name__}: {e})",
            "the file is truncated or corrupt; fetch it again",
        ) from e


def _get(d: dict, key: bytes, path: Path):
    if not isinstance(d, dict):
        raise CnnlabError(f"{path}: holds a {type(d).__name__}, not a CIFAR batch dict")
    for k in (key, key.decode()):
        if k in d:
            return d[k]
    have = ", ".join(sorted(k.decode() if isinstance(k, bytes) else str(k) for k in d))
    raise CnnlabError(
        f"{path}: no {key.decode()!r} entry (it has: {have})",
        "is this a CIFAR-10 file given as CIFAR-100 or the other way round?",
    )


def read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (N x 3 x 32 x 32 uint8 images, N int64 labels)."""
    d = load_data_pickle(read_bytes(path), path)
    data = _get(d, b"data", path)
    if not isinstance(data, np.ndarray):
        raise CnnlabError(f"{path}: 'data' is a {type(data).__name__}, expected a uint8 N x 3072 array")
    raw_labels = _get(d, label_key, path)
    if isinstance(raw_labels, np.ndarray):
        ok = raw_labels.dtype.kind in "iu" and raw_labels.ndim == 1
    else:
        ok = isinstance(raw_labels, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in raw_labels)
    if not ok:
        kinds = (
            str(raw_labels.dtype)
            if isinstance(raw_labels, np.ndarray)
            else type(raw_labels).__name__
            if not isinstance(raw_labels, list)
            else "list of " + ", ".join(sorted({type(v).__name__ for v in raw_labels[:1000]}))
        )
        raise CnnlabError(
            f"{path}: {label_key.decode()!r} must be a list of integer labels, got {kinds}",
            "is this a CIFAR batch? fetch the official cifar-10/100-python files again",
        )
    try:
        labels = np.asarray(raw_labels, dtype=np.int64)
    except OverflowError as e:
        raise CnnlabError(f"{path}: a label in {label_key.decode()!r} is too large ({e})") from e
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CnnlabError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 N x 3072 (32x32 RGB planes)")
    if labels.shape != (len(data),):
        raise CnnlabError(f"{path}: {len(data)} images but {labels.size} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise CnnlabError(f"{path}: label {labels.max()} outside 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def _class_names(root: Path, layout: dict, name: str) -> tuple[list[str], str | None]:
    path = find_batch(root, layout["meta"])
    if path is None:
        if name == "cifar10":
            return list(CIFAR10_CLASSES), f"{layout['meta']} not found: used the standard CIFAR-10 class names"
        return [f"class_{i}" for i in range(layout["classes"])], f"{layout['meta']} not found: classes are numbered"
    names = _get(load_data_pickle(read_bytes(path), path), layout["names"], path)
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise CnnlabError(f"{path}: {layout['names'].decode()!r} must be a list of class names (strings)")
    try:
        names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]
    except UnicodeDecodeError as e:
        raise CnnlabError(
            f"{path}: a class name is not UTF-8 text ({e.reason} at byte {e.start})",
            "fetch the official batches.meta again, or delete it to use the standard names",
        ) from e
    from ..errors import printable

    names = [printable(n, 100) for n in names]
    if len(names) != layout["classes"]:
        raise CnnlabError(f"{path}: {len(names)} class names, expected {layout['classes']} for {name}")
    return names, None


def read_cifar(root: Path, name: str, use_cache: bool = True, cache_root: Path | None = None) -> DataSplits:
    """Read ``cifar10`` or ``cifar100`` from ``root`` (the batches folder or the folder holding it)."""
    layout = LAYOUTS[name]
    if not root.is_dir():
        raise CnnlabError(
            f"{name}: data folder {root} does not exist", f"pass --data {name}:PATH with the {layout['folder']} folder"
        )
    if (root / layout["folder"]).is_dir() and find_batch(root, layout["test"][0]) is None:
        root = root / layout["folder"]
    files = {}
    for split in ("train", "test"):
        for stem in layout[split]:
            path = find_batch(root, stem)
            if path is None:
                expected = ", ".join(layout["train"] + layout["test"] + [layout["meta"]])
                other = "cifar100" if name == "cifar10" else "cifar10"
                hint = f"{name} expects {layout['folder']}/ holding {expected} (each may end in .gz or .xz)"
                if all(find_batch(root, s) for s in LAYOUTS[other]["test"]):
                    hint += f"; this folder looks like {other}: use --data {other}:{root}"
                raise CnnlabError(f"{name}: {root / stem}[.gz|.xz] not found", hint)
            files.setdefault(split, []).append(path)
    classes, note = _class_names(root, layout, name)

    key = {"format": name, "files": cache.file_key(files["train"] + files["test"])}
    cache_root = cache_root or Path.home() / ".cache" / "cnnlab"
    hit = cache.load(cache_root, "cifar", key) if use_cache else None
    if hit is not None:
        arrays, _ = hit
        parts = [(arrays["train_x"], arrays["train_y"]), (arrays["test_x"], arrays["test_y"])]
    else:
        parts = []
        for split in ("train", "test"):
            batches = [read_batch(p, layout["labels"], layout["classes"]) for p in files[split]]
            parts.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
        compressed = any(read_head(p) for p in files["train"] + files["test"])
        if use_cache and compressed:  # plain pickles read as fast as the cache
            cache.store(
                cache_root,
                "cifar",
                key,
                {"train_x": parts[0][0], "train_y": parts[0][1], "test_x": parts[1][0], "test_y": parts[1][1]},
            )
    splits = [
        ImageDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y.astype(np.int64)), classes)
        for x, y in parts
    ]
    # the official test batch is the test split: never a validation split (sources.apply_options carves one)
    out = DataSplits(
        name, splits[0], splits[0].subset(torch.zeros(0, dtype=torch.long)), source=str(root), test_reader=splits[1]
    )
    if note:
        out.notes.append(note)
    return out


def read_head(path: Path) -> bool:
    """Whether ``path`` is gzip- or xz-compressed."""
    with open(path, "rb") as f:
        head = f.read(6)
    return head.startswith(_GZIP) or head.startswith(_XZ)
