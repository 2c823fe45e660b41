"""Data sets by name: ``--data NAME[:PATH]``.

Each source reads one format from a path (or from the package, for the built-in sample) and
returns :class:`~cnnlab.data.dataset.DataSplits`. Add a format by writing a reader and one
``DataSource`` row in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError, UnknownNameError
from .dataset import DataSplits, ImageDataset, resize_images, stratified_split
from .idx import idx_shape, read_idx
from .options import DataOptions

DIGITS = [str(i) for i in range(10)]
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


@dataclass(frozen=True)
class DataSource:
    name: str
    read: Callable[[Path | None], DataSplits]
    needs_path: bool
    expects: str  # what the path must hold, for error messages and `cnnlab data`
    takes_options: bool = False  # read(path, DataOptions) instead of read(path)
    resizes: bool = False  # the reader applies DataOptions.image_size itself
    # validation split carved from the training images when DataOptions.val_split is None and the
    # reader gave none: a fraction of each class, or an image count (the papers' 5,000 for CIFAR)
    default_val: float = 0.1
    streams: bool = False  # honours DataOptions.data_cache disk / none (images read on demand)


def _idx_pair(root: Path, prefix: str, what: str) -> tuple[Path, Path]:
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        stem = f"{prefix}-{kind}-ubyte"
        for cand in (root / f"{stem}.gz", root / stem, root / f"{prefix}-{kind.replace('-', '.')}-ubyte"):
            if cand.is_file():
                found.append(cand)
                break
        else:
            raise CnnlabError(
                f"{what}: {root / stem}[.gz] not found",
                f"{what} expects a folder with train-images-idx3-ubyte[.gz], "
                "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz] and "
                "t10k-labels-idx1-ubyte[.gz] (the official MNIST file names)",
            )
    return found[0], found[1]


def _read_idx_split(root: Path, prefix: str, name: str, classes: list[str]) -> ImageDataset:
    img_path, lab_path = _idx_pair(root, prefix, name)
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.dtype != np.uint8:
        raise CnnlabError(
            f"{name}: {img_path} holds {images.dtype} data; cnnlab reads uint8 images (type 08)",
            "convert the images to 8-bit (0..255) before writing them as IDX",
        )
    if labels.dtype.kind not in "iu":
        raise CnnlabError(
            f"{name}: {lab_path} holds {labels.dtype} labels; labels are integers (type 08)",
            "write the labels as unsigned bytes",
        )
    if labels.size and labels.min() < 0:
        raise CnnlabError(
            f"{name}: {lab_path} has a negative label ({labels.min()})",
            f"labels are class numbers 0..{len(classes) - 1}",
        )
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CnnlabError(
            f"{name}: {img_path.name} holds shape {images.shape} and {lab_path.name} {labels.shape}",
            "expected N x H x W images and N labels",
        )
    if labels.max(initial=0) >= len(classes):
        raise CnnlabError(f"{name}: {lab_path} has label {labels.max()} but {name} has {len(classes)} classes")
    return ImageDataset(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype("int64")), classes)


def read_idx_folder(root: Path, name: str, classes: list[str]) -> DataSplits:
    """An MNIST-format folder: ``train-*`` is the training split, ``t10k-*`` the test split.

    The test files must exist but are read only when the test split is asked for.
    """
    if not root.is_dir():
        raise CnnlabError(
            f"{name}: data folder {root} does not exist",
            f"pass --data {name}:PATH with the folder that holds the IDX files",
        )
    train = _read_idx_split(root, "train", name, classes)
    test_images, _ = _idx_pair(root, "t10k", name)  # a missing test file is an error now, not after training
    declared = idx_shape(test_images)  # the header only: the test images themselves are read when asked for
    if declared is not None and len(declared) == 3 and tuple(declared[1:]) != train.image_shape[1:]:
        raise CnnlabError(
            f"{name}: {test_images.name} holds {declared[1]}x{declared[2]} images but the training "
            f"split {train.image_shape[1]}x{train.image_shape[2]}",
            "both splits must have the same image size",
        )

    def read_test() -> ImageDataset:
        test = _read_idx_split(root, "t10k", name, classes)
        if test.image_shape != train.image_shape:
            raise CnnlabError(
                f"{name}: the t10k images are {test.image_shape[1]}x{test.image_shape[2]} but the "
                f"training split {train.image_shape[1]}x{train.image_shape[2]}",
                "both splits must have the same image size",
            )
        return test

    return DataSplits(name, train, empty_like(train), source=str(root), test_reader=read_test)


def empty_like(data: ImageDataset) -> ImageDataset:
    return data.subset(torch.zeros(0, dtype=torch.long))


def builtin_path(name: str) -> Path:
    return Path(str(resources.files("cnnlab.data") / "builtin" / name))


SOURCES: dict[str, DataSource] = {}


def register_source(source: DataSource) -> None:
    SOURCES[source.name] = source


register_source(
    DataSource(
        "mnist-sample",
        lambda _: read_idx_folder(builtin_path("mnist-sample"), "mnist-sample", DIGITS),
        False,
        "nothing: built in (10,000 MNIST training digits and 2,000 MNIST test digits, class-balanced)",
    )
)
register_source(
    DataSource(
        "mnist",
        lambda p: read_idx_folder(p, "mnist", DIGITS),
        True,
        "a folder with the four MNIST IDX files (train-images-idx3-ubyte.gz, ...; gzip or raw)",
    )
)
register_source(
    DataSource(
        "fashion-mnist",
        lambda p: read_idx_folder(p, "fashion-mnist", FASHION),
        True,
        "a folder with the four Fashion-MNIST IDX files (same names as MNIST's; gzip or raw)",
    )
)


register_source(
    DataSource(
        "cifar10",
        lambda p, o: read_cifar(p, "cifar10", o.cache, o.cache_root()),
        True,
        "the cifar-10-batches-py folder (data_batch_1..5, test_batch, batches.meta; each batch may be .gz or .xz)",
        takes_options=True,
        default_val=5000,
    )
)
register_source(
    DataSource(
        "cifar100",
        lambda p, o: read_cifar(p, "cifar100", o.cache, o.cache_root()),
        True,
        "the cifar-100-python folder (train, test, meta; each may be .gz or .xz); the 100 fine labels",
        takes_options=True,
        default_val=5000,
    )
)
register_source(
    DataSource(
        "imagefolder",
        lambda p, o: read_imagefolder(p, o),
        True,
        "a folder of class sub-folders (PATH/CLASS/img.jpg; validation carved by --val-split), or "
        "PATH/train/CLASS/... with PATH/val/CLASS/... (validation) and/or PATH/test/CLASS/... (test)",
        takes_options=True,
        resizes=True,
        streams=True,
    )
)


register_source(
    DataSource(
        "wds",
        lambda p, o: read_wds(p, o),
        True,
        "WebDataset tar shards: a brace pattern (PATH/shards-{000000..000009}.tar; KEY.jpg + KEY.cls per image, "
        "classes.txt beside them) or a folder written by `cnnlab shard` (train-*.tar, val-*.tar, test-*.tar)",
        takes_options=True,
        resizes=True,
        streams=True,
    )
)


def read_wds(path, options):
    from .wds import read_wds as read

    return read(str(path), options)


register_source(
    DataSource(
        "seg-sample",
        lambda _p, o: read_seg_sample(o),
        False,
        "nothing: built in (segmentation: 2,000 + 400 test 64x64 canvases of MNIST digits, a class per pixel)",
        takes_options=True,
        resizes=True,
    )
)
register_source(
    DataSource(
        "segfolder",
        lambda p, o: read_segfolder(p, o),
        True,
        "segmentation pairs: PATH/images/*.png|jpg with PATH/masks/*.png (class index per pixel, 255 = ignore) by "
        "file stem, optional PATH/classes.txt; or that pair under PATH/train/ (+ val/, test/)",
        takes_options=True,
        resizes=True,
    )
)


def read_seg_sample(options):
    from ..tasks.segment.sample import read_seg_sample as read

    return read(options)


def read_segfolder(path, options):
    from ..tasks.segment.folder import read_segfolder as read

    return read(path, options)


# detection sets (cnnlab.tasks.detect): DetectionSplits with task = "detect"; their readers apply the options
register_source(
    DataSource(
        "det-sample",
        lambda _, o: _detect("sample", "read_det_sample")(o),
        False,
        "nothing: built in (MNIST digits of random sizes on 128x128 canvases with their boxes; detection)",
        takes_options=True,
        resizes=True,
    )
)
register_source(
    DataSource(
        "coco",
        lambda p, o: _detect("coco", "read_coco")(p, o),
        True,
        "a COCO detection folder: annotations/instances_*.json and the image folders (train2017/, ...)",
        takes_options=True,
        resizes=True,
    )
)
register_source(
    DataSource(
        "yolo",
        lambda p, o: _detect("yolo", "read_yolo")(p, o),
        True,
        "a YOLO detection folder: images/[train/]*.jpg and labels/[train/]*.txt (class cx cy w h per line)",
        takes_options=True,
        resizes=True,
    )
)


def _detect(module: str, function: str):
    from importlib import import_module

    return getattr(import_module(f"cnnlab.tasks.detect.{module}"), function)


def read_cifar(path, name, use_cache, cache_root):
    from .cifar import read_cifar as read

    return read(path, name, use_cache, cache_root)


def read_imagefolder(path, options):
    from .imagefolder import read_imagefolder as read

    return read(path, options)


def load_data(spec: str, options: DataOptions | dict | None = None, **overrides) -> DataSplits:
    """Read a data set from ``NAME`` or ``NAME:PATH`` (``mnist-sample``, ``cifar10:~/data/cifar-10-batches-py``).

    ``options`` (a :class:`~cnnlab.data.options.DataOptions` or dict) and keyword overrides set what
    the spec does not: ``load_data("imagefolder:photos", val_split=0.1, image_size=96, bad_images="skip")``.
    """
    opts = DataOptions.make(options, **overrides)
    name, _, path = spec.partition(":")
    source = SOURCES.get(name)
    if source is None:
        raise UnknownNameError("data set", name, SOURCES, "cnnlab data")
    if source.needs_path and not path:
        raise CnnlabError(f"data set {name!r} needs a path: --data {name}:PATH", f"PATH must be {source.expects}")
    if not source.needs_path and path:
        raise CnnlabError(f"data set {name!r} is built in and takes no path (got {path!r})", f"use --data {name}")
    if opts.data_cache in ("disk", "none") and not source.streams:
        streaming = ", ".join(n for n, s in SOURCES.items() if s.streams)
        raise CnnlabError(
            f"--data-cache {opts.data_cache}: {name} is always read into memory",
            f"drop --data-cache (or use auto/memory); {streaming} stream from disk",
        )
    p = Path(path).expanduser() if path else None
    data = source.read(p, opts) if source.takes_options else source.read(p)
    return apply_options(data, opts, resized=source.resizes, default_val=source.default_val)


def apply_options(data: DataSplits, opts: DataOptions, resized: bool = False, default_val: float = 0.1) -> DataSplits:
    """Carve the validation split and resize, where the reader did not do it itself.

    The validation split comes from the training images only (``DataOptions.val_split``, else the
    reader's own validation images, else ``default_val``); the test split is passed on untouched
    and unread (resized lazily when it is read).
    """
    if getattr(data, "task", "classify") != "classify":
        return data  # a segmentation / detection reader applies the options itself
    notes = list(data.notes)
    train, val, test = data.train, data.val, data.test_reader
    if opts.image_size and not resized and train.image_shape[1:] != (opts.image_size, opts.image_size):
        c, h, w = train.image_shape
        size = opts.image_size
        train = ImageDataset(resize_images(train.images, size), train.labels, train.classes)
        val = ImageDataset(resize_images(val.images, size), val.labels, val.classes)
        if test is not None:
            test = _resized_reader(test, size)
        notes.append(f"resized from {h}x{w} to {size}x{size} (bilinear, antialiased)")
    split = opts.val_split
    if split is None and len(val) == 0:
        # the default count (CIFAR's 5,000 of 50,000) holds for the full set; a cut-down copy gets 10%
        split = default_val if default_val < 1 or 10 * default_val <= len(train) else 0.1
    if split is not None:
        own = f"; its own validation images ({len(val):,}) are not used" if len(val) else ""
        if split == 0:
            train = _concat(train, val)
            val = empty_like(train)
            notes.append(
                "no validation split (val_split=0): training uses every training image and selects "
                "nothing; the test split is reported only when asked (final_test / cnnlab evaluate)"
            )
        else:
            fraction = split if split < 1 else split / max(len(train), 1)
            if split >= 1 and split >= len(train):
                raise CnnlabError(
                    f"val_split={int(split)} images but the training split has only {len(train):,}",
                    "use a smaller count or a fraction such as --val-split 0.1",
                )
            train, val = stratified_split(train, fraction, opts.seed)
            what = f"{split:.0%} of each class" if split < 1 else f"{int(split):,} images, stratified by class,"
            notes.append(f"validation split: {what} of the training images, seed {opts.seed}{own}")
    return DataSplits(data.name, train, val, source=data.source, notes=notes, test_reader=test)


def _concat(a: ImageDataset, b: ImageDataset) -> ImageDataset:
    if len(b) == 0:
        return a
    from .stream import concat

    return ImageDataset(concat(a.images, b.images), torch.cat([a.labels, b.labels]), a.classes)


def _resized_reader(test, size: int):
    def read() -> ImageDataset:
        t = test() if callable(test) else test
        return ImageDataset(resize_images(t.images, size), t.labels, t.classes)

    return read
