"""``--data yolo:PATH``: the YOLO text format, one ``.txt`` per image.

    PATH/images/train/a.jpg   PATH/labels/train/a.txt      (train; val/ and test/ likewise, optional)
    PATH/images/a.jpg         PATH/labels/a.txt            (or no split folders: validation is carved)
    PATH/classes.txt                                       optional: one class name per line

Each label line is ``class cx cy w h``: the class number and the box centre and size as fractions
of the image's width and height. An image without a ``.txt`` (or with an empty one) has no objects.
Images are letterboxed to ``image_size`` (default 256) as they are read, one at a time.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ...errors import CnnlabError
from .dataset import DetectionDataset, DetectionSplits, carve_validation, make_target, read_letterboxed

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_SIZE = 256
MAX_LABEL_BYTES = 10_000_000  # a label file is a few lines per object: anything this large is not one


def parse_label_file(path: Path, num_classes: int | None) -> tuple[list[int], list[list[float]]]:
    """Class numbers and ``(cx, cy, w, h)`` fractions of one label file (errors name file and line)."""
    if path.stat().st_size > MAX_LABEL_BYTES:
        raise CnnlabError(f"yolo: {path} is {path.stat().st_size:,} bytes, too large for a label file")
    labels, boxes = [], []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise CnnlabError(
                f"yolo: {path}:{n}: expected 'class cx cy w h' (5 numbers), got {len(parts)}: {line[:60]!r}",
                "segmentation polygons (more numbers) are not read; one box per line",
            )
        try:
            c = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise CnnlabError(f"yolo: {path}:{n}: not numbers: {line[:60]!r}") from None
        if c < 0 or (num_classes is not None and c >= num_classes):
            raise CnnlabError(
                f"yolo: {path}:{n}: class {c} is not one of the {num_classes} in classes.txt"
                if num_classes is not None
                else f"yolo: {path}:{n}: negative class {c}"
            )
        if not all(math.isfinite(v) for v in (cx, cy, w, h)) or w < 0 or h < 0 or not (0 <= cx <= 1 and 0 <= cy <= 1):
            raise CnnlabError(
                f"yolo: {path}:{n}: box {cx} {cy} {w} {h} is not a centre in [0, 1] and a non-negative size",
                "coordinates are fractions of the image width and height",
            )
        labels.append(c)
        boxes.append([cx, cy, w, h])
    return labels, boxes


def _layout(root: Path) -> dict[str, tuple[Path, Path]]:
    if not root.is_dir():
        raise CnnlabError(f"yolo: {root} is not a folder", "pass --data yolo:PATH with images/ and labels/")
    if not (root / "images").is_dir():
        raise CnnlabError(f"yolo: {root / 'images'} not found", "a YOLO set has PATH/images/ and PATH/labels/")
    splits = {
        s: (root / "images" / s, root / "labels" / s)
        for s in ("train", "val", "test")
        if (root / "images" / s).is_dir()
    }
    if splits and "train" not in splits:
        raise CnnlabError(f"yolo: {root / 'images'} has {', '.join(splits)} but no train/ folder")
    return splits or {"train": (root / "images", root / "labels")}


def read_split(
    images_dir: Path,
    labels_dir: Path,
    classes: list[str] | None,
    size: int,
    channels: int,
    bad_images: str,
    progress: bool,
    notes: list[str],
) -> tuple[DetectionDataset, int]:
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
    if not files:
        raise CnnlabError(f"yolo: no images in {images_dir}", f"image files end in {', '.join(IMAGE_EXTENSIONS)}")
    data, targets, names = [], [], []
    top, skipped = -1, 0
    for i, f in enumerate(tqdm(files, desc=f"yolo {images_dir.name}", disable=not progress, leave=False)):
        label_file = labels_dir / f"{f.stem}.txt"
        labels, rel = (
            parse_label_file(label_file, len(classes) if classes else None) if label_file.is_file() else ([], [])
        )
        try:
            x, (sx, sy), (w, h) = read_letterboxed(f, size, channels)
        except CnnlabError:
            if bad_images == "skip":
                skipped += 1
                continue
            raise
        boxes = [
            [(cx - bw / 2) * w * sx, (cy - bh / 2) * h * sy, (cx + bw / 2) * w * sx, (cy + bh / 2) * h * sy]
            for cx, cy, bw, bh in rel
        ]
        areas = [bw * w * bh * h for _, _, bw, bh in rel]
        targets.append(make_target(boxes, labels, area=areas, scale=(sx, sy), image_id=i))
        data.append(x)
        names.append(f.name)
        top = max([top, *labels])
    if skipped:
        notes.append(f"{images_dir}: {skipped} unreadable image(s) skipped")
    if not data:
        raise CnnlabError(f"yolo: no readable images in {images_dir}")
    return DetectionDataset(torch.stack(data), targets, classes or [], names), top


def read_yolo(root: Path, options) -> DetectionSplits:
    names_file = root / "classes.txt"
    classes = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()] if names_file.is_file() else None
    size = options.image_size or DEFAULT_SIZE
    notes = [
        f"images letterboxed to {size}x{size} (scaled to fit, padded right/bottom); evaluation in the files' pixels"
    ]
    layout = _layout(root)
    parts = {
        s: read_split(*dirs, classes, size, options.channels, options.bad_images, options.progress, notes)
        for s, dirs in layout.items()
        if s != "test"
    }
    if classes is None:  # no classes.txt: the class numbers found, named by themselves
        classes = [str(k) for k in range(max(top for _, top in parts.values()) + 1)]
        notes.append(f"no classes.txt: {len(classes)} classes named 0..{len(classes) - 1}")
    for ds, _ in parts.values():
        ds.classes = classes
    train = parts["train"][0]
    if "val" in parts and options.val_split is None:
        val = parts["val"][0]
    else:
        train, val, note = carve_validation(train, options.val_split, options.seed)
        notes.extend([note] if note else [])

    def read_test() -> DetectionDataset:
        ds, top = read_split(*layout["test"], classes, size, options.channels, options.bad_images, options.progress, [])
        if top >= len(classes):
            raise CnnlabError(f"yolo: the test labels use class {top}, the training labels only 0..{len(classes) - 1}")
        ds.classes = classes
        return ds

    return DetectionSplits(
        "yolo", train, val, source=str(root), notes=notes, test_reader=read_test if "test" in layout else None
    )
