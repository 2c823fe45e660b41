"""Batches of (normalised images, masks) from a :class:`SegmentationDataset`, with joint augmentation.

The loader is :class:`~cnnlab.data.loader.BatchLoader`'s (same order and per-batch generators, so an
epoch depends only on (seed, epoch, batch index) and a resumed run sees the same batches); the target
is the N x H x W int64 mask (255 = ignore).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ...data.loader import BatchLoader


class SegmentationLoader(BatchLoader):
    """``transform``: a :class:`~cnnlab.tasks.segment.augment.JointAugment` (or None)."""

    def iter_from(self, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        g = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch * 104_729 + 1)
        for i in range(start_batch, len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            images, masks = self.data.images[idx], self.data.labels[idx]
            if self.transform is not None:
                g.manual_seed(self.seed * 7_919 + self.epoch * 104_729 + i + 1)
                images, masks = self.transform(images, masks, g)
            yield self.normalize(images), masks.long()
