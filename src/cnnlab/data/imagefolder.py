"""Folders of image files, one sub-folder per class (the layout torchvision's ImageFolder reads).

Two layouts::

    PATH/train/CLASS/*.jpg  [+ PATH/val/CLASS/*.jpg]  [+ PATH/test/CLASS/*.jpg]
    PATH/CLASS/*.jpg                                   (one folder: validation carved by --val-split)

``val/`` (or ``validation/``) is the validation split that training reports on and selects with;
without one, a seeded stratified slice of the training images is (``sources.apply_options``).
``test/`` is the test split, read only by ``cnnlab evaluate`` or a final test of training. Files are found recursively under each
class folder; names starting with ``.`` and files without an image extension are ignored.

Every image is decoded once with Pillow (:mod:`cnnlab.data.decode`), converted to RGB (or
greyscale), its shorter side resized to ``image_size`` and the centre ``image_size`` x
``image_size`` kept, as uint8. Where the decoded images live is ``--data-cache``
(:mod:`cnnlab.data.stream`): in memory when they fit the memory budget (training then batches by
indexing, as for CIFAR), else in a memory-mapped cache file; ``none`` decodes the files at every
batch. Decoding runs in ``workers`` processes (default: the cores this process may use) while the
main process waits, so processes never outnumber cores. The decoded arrays are cached (see
:mod:`cnnlab.data.cache`), so a second load reads (or maps) one ``.npy`` file instead of decoding.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError
from . import cache
from .dataset import DataSplits, ImageDataset
from .decoded import Decoded, decode_items, stored_size
from .options import DataOptions
from .stream import human, memory_budget

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".pbm", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
VAL_NAMES = ("val", "validation")
TEST_NAMES = ("test",)
HELD_OUT_NAMES = VAL_NAMES + TEST_NAMES
LAYOUT_HINT = (
    "imagefolder expects PATH/CLASS/image.jpg (one sub-folder per class), or PATH/train/CLASS/... "
    "and PATH/val/CLASS/..."
)


# ----------------------------------------------------------------------------------------------
# finding the files


class Walk:
    """What a scan of the tree met besides images: each folder is read once (a symbolic link to a
    folder already read, e.g. a loop back to a parent or a link into another class, is not followed
    again), each file counted once, and files that are not regular files are set aside."""

    def __init__(self):
        self.seen_dirs: set[tuple[int, int]] = set()
        self.seen_files: dict[tuple[int, int], Path] = {}
        self.skipped: list[str] = []  # FIFOs, devices, repeated links: notes
        self.dangling: list[Path] = []  # symbolic links to nothing: bad images

    def reserve(self, folders) -> None:
        """Mark the layout's own folders (root, splits, classes) as read before walking any class, so a
        link to one of them from inside another class is never followed."""
        for folder in folders:
            with contextlib.suppress(OSError):
                st = os.stat(folder)
                self.seen_dirs.add((st.st_dev, st.st_ino))

    def enter(self, folder: Path) -> bool:
        try:
            st = os.stat(folder)
        except OSError:
            return False
        key = (st.st_dev, st.st_ino)
        if key in self.seen_dirs:
            self.skipped.append(f"{folder}: a link to a folder already read (not followed again)")
            return False
        self.seen_dirs.add(key)
        return True


def _images_under(folder: Path, walk: Walk | None = None) -> list[Path]:
    walk = walk or Walk()
    out = []
    stack = [folder]  # the class folder itself is reserved by the caller
    while stack:
        here = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            walk.skipped.append(f"{here}: folder not readable ({e.strerror})")
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                st = os.stat(path)  # follows links
            except OSError:
                if entry.is_symlink() and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS:
                    walk.dangling.append(path)
                continue
            if stat.S_ISDIR(st.st_mode):
                if walk.enter(path):
                    subdirs.append(path)
                continue
            if Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            if not stat.S_ISREG(st.st_mode):
                walk.skipped.append(f"{path}: not a regular file (a FIFO, socket or device), skipped")
                continue
            key = (st.st_dev, st.st_ino)
            if key in walk.seen_files:
                walk.skipped.append(f"{path}: the same file as {walk.seen_files[key]} (counted once)")
                continue
            walk.seen_files[key] = path
            out.append(path)
        stack.extend(reversed(subdirs))
    return sorted(out)


def scan_classes(root: Path, walk: Walk | None = None) -> dict[str, list[Path]]:
    """``{class name: [image paths]}`` of a one-folder-per-class tree, with errors for wrong layouts."""
    walk = walk or Walk()
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not subdirs:
        what = f"{len(loose)} images directly in it" if loose else "no sub-folders"
        raise CnnlabError(
            f"imagefolder: {root} has {what}, but images must sit in one sub-folder per class",
            f"{LAYOUT_HINT}; e.g. move {root}/cat_1.jpg to {root}/cat/cat_1.jpg",
        )
    walk.reserve([root, *subdirs])
    classes = {d.name: _images_under(d, walk) for d in subdirs}
    empty = [name for name, files in classes.items() if not files]
    if empty:
        nested = [n for n in empty if any(p.is_dir() for p in (root / n).iterdir())]
        raise CnnlabError(
            f"imagefolder: class folder(s) with no image files under {root}: {', '.join(empty[:8])}"
            + (" ..." if len(empty) > 8 else ""),
            (
                f"{root} looks like a folder of splits or data sets, not of classes; point PATH at "
                "the folder whose sub-folders are the classes. "
                if nested and len(nested) == len(empty)
                else "remove the empty folders or add images; "
            )
            + f"image extensions read: {', '.join(sorted(IMAGE_EXTENSIONS))}",
        )
    if len(classes) == 1:
        (only,) = classes
        inner = sorted(p.name for p in (root / only).iterdir() if p.is_dir())
        raise CnnlabError(
            f"imagefolder: {root} has only one class folder ({only}); a classifier needs two or more",
            (
                f"{root / only} holds the folders {', '.join(inner[:5])}: if those are the classes, "
                f"use imagefolder:{root / only}"
                if inner
                else LAYOUT_HINT
            ),
        )
    if loose:
        raise CnnlabError(
            f"imagefolder: {root} mixes {len(loose)} loose images (e.g. {loose[0].name}) with class folders",
            f"{LAYOUT_HINT}; move each image into its class folder",
        )
    return classes


def find_layout(
    root: Path, walk: Walk | None = None
) -> tuple[dict[str, list[Path]], dict[str, list[Path]] | None, dict[str, list[Path]] | None]:
    """(training classes, validation classes or None, test classes or None) of ``root``."""
    walk = walk or Walk()
    if not root.is_dir():
        raise CnnlabError(f"imagefolder: {root} is not a folder", LAYOUT_HINT)
    train_dir = root / "train"
    val_dir = next((root / n for n in VAL_NAMES if (root / n).is_dir()), None)
    test_dir = next((root / n for n in TEST_NAMES if (root / n).is_dir()), None)
    walk.reserve(
        [root]
        + [
            s / c.name
            for s in (train_dir, val_dir, test_dir)
            if s is not None and s.is_dir()
            for c in s.iterdir()
            if c.is_dir()
        ]
    )
    if not train_dir.is_dir():
        held = val_dir or test_dir
        if held is not None:
            raise CnnlabError(f"imagefolder: {root} has {held.name}/ but no train/", LAYOUT_HINT)
        return scan_classes(root, walk), None, None
    train = scan_classes(train_dir, walk)
    parts = []
    for held in (val_dir, test_dir):
        if held is None:
            parts.append(None)
            continue
        classes = scan_classes(held, walk)
        extra = sorted(set(classes) - set(train))
        if extra:
            raise CnnlabError(
                f"imagefolder: {held} has class folder(s) that {train_dir} lacks: {', '.join(extra[:8])}",
                f"train/ and {held.name}/ must hold the same class folders ({held.name}/ may lack some)",
            )
        parts.append(classes)
    return train, parts[0], parts[1]


# ----------------------------------------------------------------------------------------------
# the reader


def _memory_limit(options: DataOptions) -> float:
    """Bytes decoded images may take in memory (:func:`cnnlab.data.stream.memory_budget`)."""
    return memory_budget(options.max_memory_gb)[0]


def _human(n: float) -> str:
    return human(n)


def _listing(root: Path, options: DataOptions) -> tuple[Walk, list[str], list[Path], list[int], list[int], tuple]:
    """(the walk, class names, paths, labels, part of each path: 0 train / 1 val / 2 test, the layout)."""
    walk = Walk()
    layout = find_layout(root, walk)
    if walk.dangling and options.bad_images == "error":
        more = f" (and {len(walk.dangling) - 1} more)" if len(walk.dangling) > 1 else ""
        raise CnnlabError(
            f"imagefolder: {walk.dangling[0]} is a symbolic link to "
            f"{os.readlink(walk.dangling[0])}, which does not exist{more}",
            "remove the dangling link or restore its target, or pass --bad-images skip",
        )
    classes = sorted(layout[0])
    index = {c: i for i, c in enumerate(classes)}
    paths, labels, part_of = [], [], []
    for k, part in enumerate(layout):  # 0 train, 1 val, 2 test
        for name in sorted(part or {}):
            paths.extend(part[name])
            labels.extend([index[name]] * len(part[name]))
            part_of.extend([k] * len(part[name]))
    return walk, classes, paths, labels, part_of, layout


def _walk_notes(walk: Walk) -> list[str]:
    notes = []
    if walk.dangling:
        notes.append(f"skipped {len(walk.dangling)} dangling symbolic link(s), e.g. {walk.dangling[0]}")
    if walk.skipped:
        notes.append(
            f"{len(walk.skipped)} entr{'y' if len(walk.skipped) == 1 else 'ies'} not read: {walk.skipped[0]}"
            + (" ..." if len(walk.skipped) > 1 else "")
        )
    return notes


def readable_mask(decoded: Decoded, items: list, options: DataOptions, what: str) -> torch.Tensor:
    """Which items decoded; an unreadable one stops the load (``bad_images=error``) or is noted and dropped."""
    keep = np.ones(len(items), dtype=bool)
    if decoded.errors:
        first_i, first_msg = decoded.errors[0]
        if options.bad_images == "error":
            more = f" (and {len(decoded.errors) - 1} more unreadable images)" if len(decoded.errors) > 1 else ""
            raise CnnlabError(
                f"{what}: {items[first_i]}: not a readable image ({first_msg}){more}",
                "delete or replace the file, or pass --bad-images skip to skip unreadable images",
            )
        keep[[i for i, _ in decoded.errors]] = False
        decoded.notes.append(
            f"skipped {len(decoded.errors)} unreadable image(s) (--bad-images skip), e.g. "
            f"{items[first_i]} ({first_msg})"
        )
    if decoded.upsampled:
        size = stored_size(options)[0]
        decoded.notes.append(
            f"{decoded.upsampled:,} of {len(items):,} images were smaller than {size}x{size} and "
            "were upsampled (blurred); a smaller --image-size keeps them sharp"
        )
    return torch.from_numpy(keep)


def split_parts(
    images, labels: list[int], part_of: list[int], keep: torch.Tensor, classes: list[str], what: str
) -> tuple[ImageDataset, ImageDataset, ImageDataset]:
    """(train, val, test) of decoded images by the part each came from, unreadable ones left out."""
    labels_t = torch.tensor(labels, dtype=torch.int64)
    part_t = torch.tensor(part_of, dtype=torch.int64)
    whole = ImageDataset(images, labels_t, classes)
    train, val, test = (whole.subset(torch.nonzero(keep & (part_t == k)).flatten()) for k in range(3))
    missing = [c for c, n in zip(classes, train.class_counts()) if n == 0]
    if missing:
        raise CnnlabError(
            f"{what}: no readable training image in class(es) {', '.join(missing)}",
            "every class needs at least one readable image",
        )
    return train, val, test


def read_imagefolder(root: Path, options: DataOptions) -> DataSplits:
    walk, classes, paths, labels, part_of, (train_cls, val_cls, test_cls) = _listing(root, options)
    size, channels = stored_size(options)
    key = {"format": "imagefolder", "size": size, "channels": channels, "files": cache.file_key(paths)}
    decoded = decode_items("imagefolder", paths, key, options, "imagefolder")
    keep = readable_mask(decoded, paths, options, "imagefolder")
    train, val, test = split_parts(decoded.images, labels, part_of, keep, classes, "imagefolder")
    named = [
        f"{n}/"
        for n, part in (
            ("train", train_cls if (root / "train").is_dir() else None),
            (next((n for n in VAL_NAMES if (root / n).is_dir()), ""), val_cls),
            ("test", test_cls),
        )
        if part is not None
    ]
    source = (
        f"{root} ("
        + (" + ".join(named) if named else "one folder")
        + f", stored at {channels}x{size}x{size}"
        + ("" if decoded.mode == "memory" else f", --data-cache {decoded.mode}")
        + ")"
    )
    return DataSplits(
        "imagefolder",
        train,
        val,
        source=source,
        notes=_walk_notes(walk) + decoded.notes,
        test_reader=test if test_cls is not None else None,
    )
