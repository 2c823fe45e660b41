"""In-memory image datasets: uint8 N x C x H x W tensors with integer labels and class names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import CnnlabError


@dataclass
class ImageDataset:
    """A labelled set of images held as one uint8 tensor (N x C x H x W)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 N x C x H x W tensor, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        self.labels = self.labels.long()
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()

    def subset(self, index: torch.Tensor) -> ImageDataset:
        images = self.images.take_rows(index) if getattr(self.images, "is_lazy", False) else self.images[index]
        return ImageDataset(images, self.labels[index], self.classes)

    @property
    def streamed(self) -> bool:
        """Whether the images are read on demand (a memory map or the files), not held in memory."""
        return getattr(self.images, "is_lazy", False)

    def __repr__(self) -> str:
        from ..notebook import short

        return short(
            f"<ImageDataset {len(self):,} images {'x'.join(map(str, self.image_shape))} uint8, "
            f"{len(self.classes)} classes>"
        )


SPLITS = ("train", "val", "test", "all")


@dataclass
class DataSplits:
    """Three splits of one data set, plus what training needs to know.

    ``train`` trains; ``val`` (validation) is what training reports on and selects with; ``test`` is
    the data set's official test split, read only when asked for (``cnnlab evaluate``, or once at
    the end of training with ``final_test``). ``test`` may be given as an :class:`ImageDataset`, as
    a zero-argument function that reads it (called on first access), or ``None`` (no test split).
    """

    name: str
    train: ImageDataset
    val: ImageDataset
    source: str = ""  # where it was read from
    mean: list[float] = field(default_factory=list)  # per channel, in [0, 1], from the training split
    std: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the reader did that a user should know (skips, splits)
    test_reader: ImageDataset | Callable[[], ImageDataset] | None = field(default=None, repr=False)

    def __post_init__(self):
        if len(self.val) and len(self.train) and self.val.image_shape != self.train.image_shape:
            from ..errors import CnnlabError

            raise CnnlabError(
                f"{self.name}: the held-out images are {'x'.join(map(str, self.val.image_shape))} but "
                f"the training images {'x'.join(map(str, self.train.image_shape))}",
                "both splits must have the same image size and channels",
            )
        if not self.mean:
            self.mean, self.std = channel_stats(self.train.images)

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def has_test(self) -> bool:
        return self.test_reader is not None

    @property
    def test(self) -> ImageDataset:
        """The official test split (read on first access). Training never reads it unless asked to."""
        if self.test_reader is None:
            raise CnnlabError(
                f"data set {self.name} has no test split",
                "evaluate on --split val or --split all, or give a data set with a test split "
                "(imagefolder: PATH/test/CLASS/...)",
            )
        if callable(self.test_reader):
            self.test_reader = self.test_reader()
        return self.test_reader

    def split(self, name: str) -> ImageDataset:
        """``train``, ``val``, ``test`` or ``all`` (the three together: a whole folder as one test set)."""
        if name not in SPLITS:
            raise CnnlabError(f"unknown split {name!r}", f"use one of {', '.join(SPLITS)}")
        if name == "all":
            parts = [self.train, self.val] + ([self.test] if self.has_test else [])
            parts = [p for p in parts if len(p)]
            from .stream import concat

            images = parts[0].images
            for p in parts[1:]:
                images = concat(images, p.images)
            return ImageDataset(images, torch.cat([p.labels for p in parts]), self.classes)
        return getattr(self, name)

    def describe(self) -> str:
        c, h, w = self.train.image_shape
        test = (
            ""
            if not self.has_test
            else f" (+ {len(self.test_reader):,} test images, used only when asked)"
            if not callable(self.test_reader)
            else " (+ a test split, used only when asked)"
        )
        lines = [
            f"data {self.name}: {len(self.train):,} training / {len(self.val):,} validation images{test}, "
            f"{c}x{h}x{w}, {len(self.classes)} classes ({self.source})"
        ]
        tc, vc = self.train.class_counts(), self.val.class_counts()
        width = max(len(n) for n in self.classes)
        per = ", ".join(f"{n}: {a}/{b}" for n, a, b in zip(self.classes, tc, vc))
        if len(self.classes) <= 20:
            lines.append(f"  per class (train/val): {per}")
        else:
            lines.append(f"  per class: train {min(tc)}-{max(tc)}, val {min(vc)}-{max(vc)} (width {width})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        from ..notebook import short

        c, h, w = self.train.image_shape
        return short(
            f"<DataSplits {self.name}: {len(self.train):,} training / {len(self.val):,} held-out images, "
            f"{c}x{h}x{w}, {len(self.classes)} classes; describe() for details>"
        )

    def _class_rows(self) -> list[list]:
        tc, vc = self.train.class_counts(), self.val.class_counts()
        return [[i, name, a, b] for i, (name, a, b) in enumerate(zip(self.classes, tc, vc))]

    def _repr_html_(self) -> str:
        from ..notebook import html_table

        c, h, w = self.train.image_shape
        stats = ", ".join(f"{m:.4f}/{s:.4f}" for m, s in zip(self.mean, self.std))
        return html_table(
            ["label", "class", "training", "held-out"],
            self._class_rows(),
            caption=f"data {self.name}: {len(self.train):,} training / {len(self.val):,} held-out "
            f"images, {c}x{h}x{w}, {len(self.classes)} classes ({self.source})",
            notes=[f"training-split mean/std per channel: {stats}", *self.notes],
        )

    def to_pandas(self):
        """One row per class: label, name, training and held-out counts."""
        from ..notebook import frame

        return frame(["label", "class", "train", "held_out"], self._class_rows())


def channel_stats(images, chunk: int | None = None) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of a uint8 image tensor, in [0, 1] units.

    Exact: from each channel's sums of pixel values and of their squares, integers counted in
    float64 from 256-bin histograms (fast on uint8, no float copies), over chunks of ``chunk``
    images (default: about 2^23 pixels per chunk). A lazy image set (:mod:`cnnlab.data.stream`)
    computes them from the per-image sums its cache stored at decoding, which give the same integers.
    """
    if getattr(images, "is_lazy", False):
        return images.channel_stats()
    return histogram_stats(images, chunk)


def histogram_stats(images, chunk: int | None = None) -> tuple[list[float], list[float]]:
    """:func:`channel_stats` of anything sliceable into uint8 tensors (a tensor, a lazy image set)."""
    c = images.shape[1]
    chunk = chunk or max(1, 2**23 // max(1, images.shape[2] * images.shape[3]))
    hist = torch.zeros(c, 256, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        for k in range(c):
            hist[k] += torch.bincount(part[:, k].reshape(-1), minlength=256).to(torch.float64)
    values = torch.arange(256, dtype=torch.float64)
    return stats_from_sums(torch.stack([hist @ values, hist @ (values * values)], 1), hist.sum(1))


def per_image_sums(images: np.ndarray) -> np.ndarray:
    """N x C x 2 float64: each image's per-channel sum of pixel values and of their squares (exact integers)."""
    x = images.reshape(*images.shape[:2], -1).astype(np.int64)
    return np.stack([x.sum(-1), (x * x).sum(-1)], -1).astype(np.float64)


def stats_from_sums(sums: torch.Tensor, count) -> tuple[list[float], list[float]]:
    """(mean, std) in [0, 1] units from per-channel [sum of values, sum of squares] of 0..255 pixels."""
    n = torch.as_tensor(count, dtype=torch.float64).clamp_min(1)
    mean = sums[:, 0] / n / 255.0
    std = (sums[:, 1] / n / 65025.0 - mean * mean).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def stratified_split(data: ImageDataset, fraction: float, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """Split off ``fraction`` of every class (rounded, at least one image of classes with two or more).

    The choice depends only on ``seed`` and the labels; both parts keep the original order.
    """
    g = torch.Generator().manual_seed(seed)
    held = torch.zeros(len(data), dtype=torch.bool)
    for k in range(len(data.classes)):
        idx = torch.nonzero(data.labels == k).flatten()
        n = len(idx)
        take = min(max(int(round(fraction * n)), 1), n - 1) if n >= 2 else 0  # a lone image stays in training
        held[idx[torch.randperm(n, generator=g)[:take]]] = True
    return data.subset(torch.nonzero(~held).flatten()), data.subset(torch.nonzero(held).flatten())


def resize_images(images: torch.Tensor, size: int, chunk: int | None = None) -> torch.Tensor:
    """Resize a uint8 N x C x H x W tensor to size x size (bilinear, antialiased), in chunks."""
    import torch.nn.functional as F

    chunk = chunk or max(1, 2**22 // max(images[0, 0].numel() if len(images) else 1, size * size))
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(images), chunk):
        x = F.interpolate(
            images[start : start + chunk].float(),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        out[start : start + chunk] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out
