"""Batches straight from in-memory uint8 tensors: no per-image Python work, no worker processes.

An epoch's order depends only on ``(seed, epoch)``, so a resumed run sees the same batches.
Normalisation (and, where given, augmentation) runs on a whole batch at once. Images that are read
on demand (``--data-cache disk`` or ``none``) go through :class:`cnnlab.data.stream_loader.StreamLoader`,
which makes the same batches in DataLoader worker processes; :func:`make_loader` picks the loader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from .dataset import ImageDataset

BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class BatchLoader:
    """Yields ``(images, labels)``: float32 images normalised with ``mean``/``std`` (in [0, 1] units).

    ``transform`` (optional) receives the uint8 batch and a generator and returns a uint8 or float
    batch in [0, 255] units before normalisation (batched augmentation lives in
    ``cnnlab.data.transforms``).

    ``alternating_flip`` mirrors each image in every other epoch, after the augmentation: a random half
    (fixed by ``seed``) starts mirrored, and all change sides each epoch - airbench's derandomised flip
    (Jordan 2024), which sees every image both ways where a random flip may show one side twice.
    """

    def __init__(
        self,
        data: ImageDataset,
        batch_size: int,
        mean: list[float],
        std: list[float],
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
        transform: BatchTransform | None = None,
        channels_last: bool = False,
        alternating_flip: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.transform = transform
        self.channels_last = channels_last
        self.epoch = 0
        self.flip_bits = (
            torch.rand(len(data), generator=torch.Generator().manual_seed(seed + 77)) < 0.5
            if alternating_flip
            else None
        )
        c = data.images.shape[1]
        self._scale = (1.0 / (255.0 * torch.tensor(std, dtype=torch.float32))).view(1, c, 1, 1)
        self._shift = (-torch.tensor(mean, dtype=torch.float32) / torch.tensor(std, dtype=torch.float32)).view(
            1, c, 1, 1
        )

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        n = len(self.data)
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(n, generator=g)

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.float() * self._scale + self._shift
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate the current epoch from batch ``start_batch`` (for exact resume)."""
        order = self.order()
        for i in range(start_batch, len(self)):
            images, labels = self.load_batch(i, order)
            yield self.normalize(images), labels

    def load_batch(
        self, i: int, order: torch.Tensor, shard: tuple[int, int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``i`` of the epoch ``order`` before normalisation: (uint8 or float images, labels).

        ``shard=(rank, world)``: only that rank's contiguous rows of the batch, bitwise equal to the
        same rows of the whole batch (as :func:`cnnlab.train.distributed.shard` cuts it): the rank
        reads only its own images, and augments them with the whole batch's random draws.
        """
        idx = order[i * self.batch_size : (i + 1) * self.batch_size]
        lo, hi = (0, len(idx)) if shard is None else shard_bounds(len(idx), *shard)
        images = self.data.images[idx[lo:hi]]
        if self.transform is not None:
            # per-batch generator: the augmentation of batch i does not depend on batches before it
            g = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch * 104_729 + i + 1)
            if shard is not None:  # the draws are per image of the whole batch: augment it, keep our rows
                whole = torch.zeros((len(idx), *images.shape[1:]), dtype=images.dtype)
                whole[lo:hi] = images
                images = self.transform(whole, g)[lo:hi]
            else:
                images = self.transform(images, g)
        if self.flip_bits is not None:  # per image, by its index: a shard's rows as in the whole batch
            mirror = alternating_flip_mask(self.flip_bits, idx[lo:hi], self.epoch).view(-1, 1, 1, 1)
            images = torch.where(mirror, images.flip(-1), images)
        return images, self.data.labels[idx[lo:hi]]


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Rows [lo, hi) of an ``n``-row batch that rank ``rank`` of ``world`` takes (equal when divisible)."""
    return n * rank // world, n * (rank + 1) // world


def alternating_flip_mask(bits: torch.Tensor, index: torch.Tensor, epoch: int) -> torch.Tensor:
    """Which images of a batch are mirrored in ``epoch`` (1-based): those whose bit is set in odd epochs,
    the others in even ones - every image is seen both ways, alternately (airbench, Jordan 2024)."""
    return bits[index] ^ (epoch % 2 == 0)
