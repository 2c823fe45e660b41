"""Segmentation data in memory: uint8 images (N x C x H x W) with uint8 masks (N x H x W) of class indices.

:class:`SegmentationDataset` is an :class:`~cnnlab.data.dataset.ImageDataset` whose ``labels`` are the
masks (255 = ignore, as PASCAL VOC's object borders; so at most 255 classes), and
:class:`SegmentationSplits` the :class:`~cnnlab.data.dataset.DataSplits` that holds them, with
``task = "segment"`` (the trainer picks :class:`~cnnlab.tasks.segment.task.SegmentationTask` from it)
and an optional colour per class (``palette``) for overlays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...data.dataset import DataSplits, ImageDataset
from ...errors import CnnlabError
from .metrics import IGNORE_INDEX


@dataclass
class SegmentationDataset(ImageDataset):
    """``images`` uint8 N x C x H x W; ``labels`` uint8 N x H x W masks (class index per pixel, 255 = ignore)."""

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 N x C x H x W tensor, got {self.images.dtype} {tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.uint8 or self.labels.dim() != 3:
            raise ValueError(
                f"masks must be a uint8 N x H x W tensor, got {self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if self.labels.shape[0] != self.images.shape[0] or self.labels.shape[1:] != self.images.shape[2:]:
            raise ValueError(f"{tuple(self.images.shape)} images but {tuple(self.labels.shape)} masks")
        if len(self.classes) > IGNORE_INDEX:
            raise CnnlabError(
                f"{len(self.classes)} classes: masks are 8-bit with 255 meaning 'ignore'",
                "segmentation data sets may have at most 255 classes",
            )

    @property
    def masks(self) -> torch.Tensor:
        return self.labels

    def class_counts(self) -> list[int]:
        """Pixels of each class (ignored pixels not counted)."""
        counts = torch.bincount(self.labels.reshape(-1).long(), minlength=256)
        return counts[: len(self.classes)].tolist()

    def subset(self, index: torch.Tensor) -> SegmentationDataset:
        return SegmentationDataset(self.images[index], self.labels[index], self.classes)

    def __repr__(self) -> str:
        return (
            f"<SegmentationDataset {len(self):,} images {'x'.join(map(str, self.image_shape))} uint8 with masks, "
            f"{len(self.classes)} classes>"
        )


def empty_segmentation(like: SegmentationDataset) -> SegmentationDataset:
    return like.subset(torch.zeros(0, dtype=torch.long))


@dataclass
class SegmentationSplits(DataSplits):
    """Train / validation / test segmentation splits (``task = "segment"``) and the class colours."""

    palette: list[tuple[int, int, int]] | None = field(default=None)

    task = "segment"
    ignore_index = IGNORE_INDEX

    def split(self, name: str) -> SegmentationDataset:
        if name == "all":
            parts = [p for p in [self.train, self.val] + ([self.test] if self.has_test else []) if len(p)]
            return SegmentationDataset(
                torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]), self.classes
            )
        return super().split(name)

    def describe(self) -> str:
        c, h, w = self.train.image_shape
        test = "" if not self.has_test else " (+ a test split, used only when asked)"
        lines = [
            (
                f"data {self.name}: {len(self.train):,} training / {len(self.val):,} validation images with masks"
                f"{test}, {c}x{h}x{w}, {len(self.classes)} classes ({self.source})"
            )
        ]
        counts = self.train.class_counts()
        total = max(1, sum(counts))
        share = ", ".join(f"{n}: {100 * k / total:.1f}%" for n, k in zip(self.classes, counts))
        if len(self.classes) <= 20:
            lines.append(f"  pixels per class (train): {share}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        c, h, w = self.train.image_shape
        return (
            f"<SegmentationSplits {self.name}: {len(self.train):,} training / {len(self.val):,} validation images "
            f"with masks, {c}x{h}x{w}, {len(self.classes)} classes>"
        )


def carve_validation(
    train: SegmentationDataset, fraction: float, seed: int
) -> tuple[SegmentationDataset, SegmentationDataset]:
    """A seeded random ``fraction`` (or image count, when >= 1) of the training images as validation."""
    n = len(train)
    take = round(fraction * n) if fraction < 1 else int(fraction)
    if take >= n or (fraction > 0 and n < 2):
        raise CnnlabError(
            f"a validation split of {take} image(s) leaves no training image ({n} in total)",
            "add images, or use --val-split 0 (no validation split)",
        )
    take = max(take, 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held = torch.zeros(n, dtype=torch.bool)
    held[order[:take]] = True
    return train.subset(torch.nonzero(~held).flatten()), train.subset(torch.nonzero(held).flatten())
