"""Batches of detection data: ``(images, targets)`` with images normalised float32 N x C x S x S
and ``targets`` a list of per-image dicts (boxes, labels, iscrowd, area, scale, image_id).

The same contract as :class:`cnnlab.data.BatchLoader`: an epoch's order and augmentation depend
only on ``(seed, epoch, batch index)``, so ``iter_from(k)`` resumes exactly at batch ``k``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .augment import BoxAugment
from .dataset import DetectionDataset


class DetectionLoader:
    def __init__(
        self,
        data: DetectionDataset,
        batch_size: int,
        mean: list[float],
        std: list[float],
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        augment: BoxAugment | None = None,
        channels_last: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data, self.batch_size, self.shuffle, self.drop_last = data, batch_size, shuffle, drop_last
        self.seed, self.augment, self.channels_last, self.epoch = seed, augment, channels_last, 0
        c = data.images.shape[1]
        std_t = torch.tensor(std, dtype=torch.float32)
        self._scale = (1.0 / (255.0 * std_t)).view(1, c, 1, 1)
        self._shift = (-torch.tensor(mean, dtype=torch.float32) / std_t).view(1, c, 1, 1)

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float() * self._scale + self._shift
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, list[dict]]]:
        return self.iter_from(0)

    def iter_from(self, start_batch: int) -> Iterator[tuple[torch.Tensor, list[dict]]]:
        n = len(self.data)
        order = (
            torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))
            if self.shuffle
            else torch.arange(n)
        )
        g = torch.Generator()
        for i in range(start_batch, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size].tolist()
            images = self.data.images[idx]
            targets = [self.data.targets[j] for j in idx]
            if self.augment:
                g.manual_seed(self.seed * 7_919 + self.epoch * 104_729 + i + 1)
                pairs = [self.augment(im, t, g) for im, t in zip(images, targets)]
                images = torch.stack([p[0] for p in pairs])
                targets = [p[1] for p in pairs]
            yield self.normalize(images), targets
