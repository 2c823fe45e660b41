"""Detection data in memory: equal-size uint8 images and, per image, its boxes.

Readers (``sample``, ``coco``, ``yolo``) bring every image to one working size with
:func:`letterbox` (scaled to fit, padded at the right and bottom), so a batch is one tensor and
memory is bounded by ``count x channels x size^2`` bytes whatever the files hold. Each image keeps
the factor from its file's pixels to the working pixels, so evaluation runs in the file's own
coordinates (COCO's area ranges are in those units).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ...data.dataset import channel_stats
from ...errors import CnnlabError


def make_target(boxes, labels, iscrowd=None, area=None, scale=(1.0, 1.0), image_id: int = 0) -> dict:
    """One image's target: ``boxes`` K x 4 float32 corners in working pixels, ``labels`` K long,
    ``iscrowd`` K bool, ``area`` K float64 (the annotation's area in file pixels), ``scale``
    (x, y) factors from file to working pixels, ``image_id``."""
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    k = len(boxes)
    sx, sy = float(scale[0]), float(scale[1])
    if area is None:
        wh = (boxes[:, 2:] - boxes[:, :2]).double()
        area = wh[:, 0] * wh[:, 1] / (sx * sy)
    return {
        "boxes": boxes,
        "labels": torch.as_tensor(labels, dtype=torch.long).reshape(k),
        "iscrowd": torch.zeros(k, dtype=torch.bool)
        if iscrowd is None
        else torch.as_tensor(iscrowd, dtype=torch.bool).reshape(k),
        "area": torch.as_tensor(area, dtype=torch.float64).reshape(k),
        "scale": (sx, sy),
        "image_id": image_id,
    }


@dataclass
class DetectionDataset:
    """``images`` uint8 N x C x S x S; ``targets`` one :func:`make_target` dict per image."""

    images: torch.Tensor
    targets: list[dict]
    classes: list[str]
    names: list[str] = field(default_factory=list)  # where each image came from (file name, canvas number)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 N x C x H x W tensor, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if len(self.targets) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.targets)} targets")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def labels(self) -> torch.Tensor:
        """The class of every box, image after image (what the run's data fingerprint hashes)."""
        return torch.cat([t["labels"] for t in self.targets]) if self.targets else torch.zeros(0, dtype=torch.long)

    @property
    def num_boxes(self) -> int:
        return sum(len(t["boxes"]) for t in self.targets)

    def subset(self, index) -> DetectionDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        names = [self.names[i] for i in index.tolist()] if self.names else []
        return DetectionDataset(self.images[index], [self.targets[i] for i in index.tolist()], self.classes, names)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()

    def __repr__(self) -> str:
        return (
            f"<DetectionDataset {len(self):,} images {'x'.join(map(str, self.image_shape))} uint8, "
            f"{self.num_boxes:,} boxes, {len(self.classes)} classes>"
        )


SPLITS = ("train", "val", "test", "all")


@dataclass
class DetectionSplits:
    """Train / validation / test of a detection set (``task = "detect"``); the same discipline as
    :class:`cnnlab.data.DataSplits`: the test split is read only when asked for."""

    name: str
    train: DetectionDataset
    val: DetectionDataset
    source: str = ""
    notes: list[str] = field(default_factory=list)
    test_reader: DetectionDataset | Callable[[], DetectionDataset] | None = field(default=None, repr=False)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    task: str = "detect"

    def __post_init__(self):
        if not self.mean:
            self.mean, self.std = channel_stats(self.train.images)

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def has_test(self) -> bool:
        return self.test_reader is not None

    @property
    def test(self) -> DetectionDataset:
        if self.test_reader is None:
            raise CnnlabError(f"data set {self.name} has no test split", "evaluate on --split val")
        if callable(self.test_reader):
            self.test_reader = self.test_reader()
        return self.test_reader

    def split(self, name: str) -> DetectionDataset:
        if name not in SPLITS:
            raise CnnlabError(f"unknown split {name!r}", f"use one of {', '.join(SPLITS)}")
        if name == "all":
            parts = [
                p for p in (self.train, self.val, self.test if self.has_test else None) if p is not None and len(p)
            ]
            return DetectionDataset(
                torch.cat([p.images for p in parts]),
                [t for p in parts for t in p.targets],
                self.classes,
                [n for p in parts for n in p.names],
            )
        return getattr(self, name)

    def describe(self) -> str:
        c, h, w = self.train.image_shape
        test = " (+ a test split, used only when asked)" if self.has_test else ""
        lines = [
            f"data {self.name}: {len(self.train):,} training / {len(self.val):,} validation images{test}, "
            f"{c}x{h}x{w}, {self.train.num_boxes:,} / {self.val.num_boxes:,} boxes, {len(self.classes)} classes "
            f"({self.source})"
        ]
        if len(self.classes) <= 20:
            lines.append(
                "  boxes per class (train/val): "
                + ", ".join(
                    f"{n}: {a}/{b}" for n, a, b in zip(self.classes, self.train.class_counts(), self.val.class_counts())
                )
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DetectionSplits {self.name}: {len(self.train):,} training / {len(self.val):,} validation images>"


def carve_validation(
    train: DetectionDataset, fraction: float | None, seed: int, default: float = 0.1
) -> tuple[DetectionDataset, DetectionDataset, str | None]:
    """A seeded random share of the training images as the validation split (``fraction`` a share
    in (0, 1), a count >= 1, 0 for none; None: ``default``)."""
    fraction = default if fraction is None else fraction
    n = len(train)
    if fraction == 0:
        return train, train.subset([]), None
    take = int(round(fraction * n)) if fraction < 1 else int(fraction)
    if not 0 < take < n:
        raise CnnlabError(
            f"val_split={fraction} leaves {n - take} of {n} training images",
            "use a smaller fraction such as --val-split 0.1",
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held = torch.sort(perm[:take]).values
    kept = torch.sort(perm[take:]).values
    return (
        train.subset(kept),
        train.subset(held),
        f"validation split: {take:,} of the {n:,} training images, seed {seed}",
    )


def letterbox(image: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[float, float]]:
    """A uint8 C x H x W image scaled to fit ``size x size`` (bilinear, antialiased), padded with
    zeros at the right and bottom; returns it and the (x, y) factors from old to new pixels."""
    c, h, w = image.shape
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    out = torch.zeros(c, size, size, dtype=torch.uint8)
    if (nh, nw) == (h, w):
        out[:, :h, :w] = image
    else:
        x = F.interpolate(image[None].float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        out[:, :nh, :nw] = x[0].round().clamp(0, 255).to(torch.uint8)
    return out, (nw / w, nh / h)


def read_letterboxed(path, size: int, channels: int) -> tuple[torch.Tensor, tuple[float, float], tuple[int, int]]:
    """An image file as a uint8 C x size x size letterboxed tensor, the (x, y) factors from the
    file's pixels to it, and the file's (width, height). Decoding goes through
    :func:`cnnlab.images.open_image` (regular files only, pixel limit, reduced JPEG decode)."""
    from PIL import Image

    from ...images import open_image, to_array

    try:
        with Image.open(path) as im:  # the header only: the size the annotations refer to
            w, h = im.size
    except Exception:  # unreadable: open_image below says why, naming the file
        w = h = 0
    a = to_array(open_image(path, fit_within=size), channels)
    ah, aw = a.shape[:2]
    if w <= 0:
        w, h = aw, ah
    elif (ah > aw) != (h > w) and h != w:  # turned upright by its EXIF orientation tag
        w, h = h, w
    s = size / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    x = torch.from_numpy(a.copy()).permute(2, 0, 1)
    x = F.interpolate(x[None].float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)[0]
    out = torch.zeros(channels, size, size, dtype=torch.uint8)
    out[:, :nh, :nw] = x.round().clamp(0, 255).to(torch.uint8)
    return out, (nw / w, nh / h), (w, h)
