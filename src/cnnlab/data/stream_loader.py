"""Batches of images read on demand, made in torch ``DataLoader`` worker processes.

:class:`StreamLoader` is a :class:`~cnnlab.data.loader.BatchLoader` (same ``__len__``, ``set_epoch``,
``order``, ``normalize``, ``iter_from``) whose batches are read (from a memory-mapped cache file or
decoded from the image files) and augmented in ``workers`` forked processes, each running one
thread; the main process only normalises. Batch ``i`` of an epoch is made by the same
``load_batch(i, order)`` as the in-memory loader's, so it depends only on (seed, epoch, i): the
batches equal the in-memory loader's bit for bit, with any number of workers, and a run resumed at
batch ``i`` (``iter_from(i)``) continues exactly.

``shard=(rank, world)`` is the ``DistributedSampler`` equivalent: every rank walks the one order
of the epoch and yields only its rows of each global batch (reading only its own images), bitwise
equal to those rows of the whole batch, so the position in the data order (the batch index the
checkpoint keeps) is the same on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from ..errors import CnnlabError
from .dataset import ImageDataset
from .loader import BatchLoader, BatchTransform


def default_workers(cores: int | None = None) -> int:
    """Loader processes for a process that may use ``cores`` cores (default: all it may run on):
    one per 8 cores, at least one, but always leaving a core to compute (1 core: 0, the batches
    are made in the training process). Decoding a 224-pixel JPEG and augmenting it costs a small
    fraction of a ResNet training step on the same core (``benchmarks/stream_loader.py``)."""
    from ..runtime import available_cores

    cores = cores or available_cores()
    return min(max(1, cores // 8), cores - 1)


class _Batches(torch.utils.data.Dataset):
    """Batch ``start + k`` of one epoch as item ``k`` (what a worker process makes)."""

    def __init__(self, loader: StreamLoader, order: torch.Tensor, start: int):
        self.loader, self.order, self.start = loader, order, start

    def __len__(self) -> int:
        return len(self.loader) - self.start

    def __getitem__(self, k: int):
        try:
            return self.loader.load_batch(self.start + k, self.order, self.loader.shard)
        except CnnlabError as e:  # sent back as a value: the main process raises it as it was
            return _Failure(e.message, e.hint)


class _Failure(NamedTuple):
    message: str
    hint: str | None


class StreamLoader(BatchLoader):
    """A :class:`BatchLoader` whose batches are read and augmented in ``workers`` processes
    (0: in this process). ``shard=(rank, world)``: this rank's rows of every batch only."""

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
        workers: int = 1,
        shard: tuple[int, int] | None = None,
        prefetch: int = 2,
    ):
        super().__init__(
            data,
            batch_size,
            mean,
            std,
            shuffle=shuffle,
            drop_last=drop_last,
            seed=seed,
            transform=transform,
            channels_last=channels_last,
            alternating_flip=alternating_flip,
        )
        self.workers = workers
        self.shard = shard if shard is not None and shard[1] > 1 else None
        self.prefetch = prefetch

    @property
    def sharded(self) -> bool:
        return self.shard is not None

    def iter_from(self, start_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        if self.workers == 0 or start_batch >= len(self):
            for i in range(start_batch, len(self)):
                images, labels = self.load_batch(i, order, self.shard)
                yield self.normalize(images), labels
            return
        # fork: workers start at once with the data set's store; torch gives each worker one thread
        batches = torch.utils.data.DataLoader(
            _Batches(self, order, start_batch),
            batch_size=None,
            shuffle=False,
            num_workers=self.workers,
            prefetch_factor=self.prefetch,
            multiprocessing_context="fork",
        )
        for item in batches:
            if isinstance(item, _Failure):
                raise CnnlabError(item.message, item.hint)
            images, labels = item
            yield self.normalize(images), labels


def make_loader(
    data: ImageDataset,
    batch_size: int,
    mean: list[float],
    std: list[float],
    *,
    workers: int | None = None,
    shard: tuple[int, int] | None = None,
    **options,
) -> BatchLoader:
    """The loader for ``data``: a :class:`BatchLoader` for images in memory, a :class:`StreamLoader`
    (``workers`` processes, default :func:`default_workers` of this process's threads) for images read
    on demand. ``shard``
    applies to streamed sets only (an in-memory batch is cut by the trainer)."""
    if not data.streamed:
        return BatchLoader(data, batch_size, mean, std, **options)
    if workers is None:  # the threads this process computes with (the trainer has set them) lend the cores
        workers = default_workers(torch.get_num_threads())
    return StreamLoader(data, batch_size, mean, std, workers=workers, shard=shard, **options)
