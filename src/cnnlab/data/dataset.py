"""In-memory image datasets: uint8 N x C x H x W tensors with integer labels and class names."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageDataset:
    """A labelled set of images held as one uint8 tensor (N x C x H x W)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be a uint8 N x C x H x W tensor, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
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

    def subset(self, index: torch.Tensor) -> "ImageDataset":
        return ImageDataset(self.images[index], self.labels[index], self.classes)


@dataclass
class DataSplits:
    """A training split and a held-out split of one data set, plus what training needs to know."""

    name: str
    train: ImageDataset
    val: ImageDataset
    source: str = ""  # where it was read from
    mean: list[float] = field(default_factory=list)  # per channel, in [0, 1], from the training split
    std: list[float] = field(default_factory=list)

    def __post_init__(self):
        if not self.mean:
            self.mean, self.std = channel_stats(self.train.images)

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    def describe(self) -> str:
        c, h, w = self.train.image_shape
        lines = [f"data {self.name}: {len(self.train):,} training / {len(self.val):,} held-out images, "
                 f"{c}x{h}x{w}, {len(self.classes)} classes ({self.source})"]
        tc, vc = self.train.class_counts(), self.val.class_counts()
        width = max(len(n) for n in self.classes)
        per = ", ".join(f"{n}: {a}/{b}" for n, a, b in zip(self.classes, tc, vc))
        if len(self.classes) <= 20:
            lines.append(f"  per class (train/held-out): {per}")
        else:
            lines.append(f"  per class: train {min(tc)}-{max(tc)}, held-out {min(vc)}-{max(vc)} (width {width})")
        return "\n".join(lines)


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of a uint8 image tensor, in [0, 1] units."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        total_sq += (x * x).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n
    std = (total_sq / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()
