"""Decoded images that need not fit in memory: where they are kept (``--data-cache``) and a lazy view.

``DataOptions.data_cache`` says where the decoded, fixed-size uint8 images of an image folder (or
WebDataset shards) live while training:

- ``memory``: one uint8 tensor in RAM (the decode cache makes the next load a file read);
- ``disk``: decoded once into the decode cache's ``images.npy``, then memory-mapped: the operating
  system pages images in as batches ask for them, so a set far larger than RAM trains;
- ``none``: nothing is kept; every batch decodes its image files again (no cache file, no RAM);
- ``auto`` (default): ``memory`` when the decoded set fits the memory budget, else ``disk``.

The memory budget (:func:`memory_budget`) is ``max_memory_gb`` if given, else ``$CNNLAB_DATA_MEMORY``
(bytes, or with a unit: ``512M``, ``2G``), else half the memory the kernel reports available.

:class:`LazyImages` stands where an :class:`~cnnlab.data.dataset.ImageDataset` holds its uint8
tensor: indexing it (``images[idx]``, ``images[a:b]``) returns a real uint8 tensor read from the
memory map or decoded from the files, and ``subset`` composes row indices without reading anything.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError

MEMORY_ENV = "CNNLAB_DATA_MEMORY"
STATS_SAMPLE = 2000  # images a file-decoding (none) set computes its channel statistics from
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_bytes(text: str, where: str = MEMORY_ENV) -> float:
    """``"512M"``, ``"2G"``, ``"1.5GB"``, ``"1000000"`` -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise CnnlabError(f"{where}={text!r} is not a size in bytes", "write e.g. 512M, 2G or 8000000000")
    return float(m.group(1)) * _UNITS[m.group(2)]


def human(n: float) -> str:
    """Bytes in GB, MB or KB (binary units), one decimal."""
    return next(
        f"{n / f:.1f} {unit}" for f, unit in ((2**30, "GB"), (2**20, "MB"), (2**10, "KB"), (1, "B")) if n >= f or f == 1
    )


def available_memory() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 16 * 2**30


def memory_budget(max_memory_gb: float | None = None) -> tuple[float, str]:
    """(bytes decoded images may take in memory, where that number comes from)."""
    if max_memory_gb:
        return max_memory_gb * 2**30, "max_memory_gb"
    if os.environ.get(MEMORY_ENV):
        return parse_bytes(os.environ[MEMORY_ENV]), f"${MEMORY_ENV}"
    return available_memory() / 2, "half the available memory"


def choose_mode(
    asked: str, need: float, max_memory_gb: float | None, what: str, shrink: str = "a smaller --image-size"
) -> str:
    """The cache mode for a set of ``need`` bytes: ``auto`` decides by the budget; ``memory`` must fit."""
    if asked not in ("auto", "memory"):
        return asked
    limit, source = memory_budget(max_memory_gb)
    if need <= limit:
        return "memory"
    if asked == "auto":
        return "disk"
    raise CnnlabError(
        f"{what} need {human(need)} in memory, more than the {human(limit)} allowed ({source})",
        "use --data-cache disk (decode once into a memory-mapped cache file) or --data-cache none "
        f"(decode every epoch), or {shrink}, or raise --max-memory-gb",
    )


# ----------------------------------------------------------------------------------------------
# where the rows come from


class ArrayStore:
    """Rows of a uint8 N x C x H x W ``.npy`` file, memory-mapped (opened again in each process)."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape = Path(path), tuple(shape)
        self._array: np.ndarray | None = None

    def __getstate__(self):  # a worker opens its own map; the pages are never pickled
        return {"path": self.path, "shape": self.shape, "_array": None}

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            if self._array.shape != self.shape or self._array.dtype != np.uint8:
                raise CnnlabError(
                    f"{self.path} holds {self._array.dtype} {self._array.shape}, expected uint8 {self.shape}",
                    "delete the cache folder; the next load decodes again",
                )
        return self._array

    def read(self, rows: np.ndarray) -> np.ndarray:
        order = np.argsort(rows, kind="stable")  # ascending offsets: the disk reads forward
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        out[order] = self.array()[rows[order]]
        return out

    def describe(self) -> str:
        return f"memory-mapped from {self.path}"


class FileStore:
    """Rows decoded from their image files (or tar members) at every read."""

    def __init__(self, items: list, size: int, channels: int):
        self.items, self.size, self.channels = items, size, channels
        self.shape = (len(items), channels, size, size)

    def read(self, rows: np.ndarray) -> np.ndarray:
        from .decode import decode_image, error_text

        out = np.empty((len(rows), self.channels, self.size, self.size), dtype=np.uint8)
        for k, r in enumerate(rows.tolist()):
            item = self.items[r]
            try:
                out[k] = decode_image(item, self.size, self.channels).transpose(2, 0, 1)
            except Exception as e:  # noqa: BLE001 - a decoder failure names the file
                raise CnnlabError(
                    f"{item}: not a readable image ({error_text(e, item)})"
                    if not isinstance(e, CnnlabError)
                    else e.message,
                    "delete or replace the file; --data-cache disk or memory check every image "
                    "before training and honour --bad-images skip",
                ) from None
        return out

    def describe(self) -> str:
        return "decoded from the files at every batch"


class LazyImages:
    """A uint8 N x C x H x W image set read on demand: ``rows`` index into a store's images."""

    is_lazy = True
    dtype = torch.uint8

    def __init__(
        self, store: ArrayStore | FileStore, rows: torch.Tensor | None = None, sums: torch.Tensor | None = None
    ):
        self.store = store
        self.rows = torch.arange(store.shape[0]) if rows is None else rows.long()
        self.sums = sums  # per store row: C x [sum of pixel values, sum of squares] (from decoding), or None

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.store.shape[1:]))

    def dim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, int):
            return self[torch.tensor([key])][0]
        rows = self.rows[key if not isinstance(key, np.ndarray) else torch.from_numpy(key)]
        return torch.from_numpy(self.store.read(rows.reshape(-1).numpy()))

    def take_rows(self, index: torch.Tensor) -> LazyImages:
        """The images at ``index`` (positions in this view), still unread."""
        return LazyImages(self.store, self.rows[index], self.sums)

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] units: exact from the per-image sums stored at decoding;
        without them, from every image of a memory map, or from an evenly spaced sample of at most
        ``STATS_SAMPLE`` images when each read decodes files."""
        from .dataset import histogram_stats, stats_from_sums

        if self.sums is not None:
            return stats_from_sums(self.sums[self.rows].sum(0), len(self) * self.shape[2] * self.shape[3])
        if isinstance(self.store, ArrayStore) or len(self) <= STATS_SAMPLE:
            return histogram_stats(self)
        return histogram_stats(self[torch.linspace(0, len(self) - 1, STATS_SAMPLE).round().long().unique()])

    def __repr__(self) -> str:
        return f"<LazyImages {len(self):,} x {'x'.join(map(str, self.shape[1:]))} uint8, {self.store.describe()}>"


def concat(a, b):
    """Two image sets (tensors, or lazy views of one store) as one."""
    if isinstance(a, LazyImages) and isinstance(b, LazyImages) and a.store is b.store:
        return LazyImages(a.store, torch.cat([a.rows, b.rows]), a.sums)
    if isinstance(a, LazyImages) or isinstance(b, LazyImages):
        raise CnnlabError("cannot join a streamed split with another store", "use --data-cache memory")
    return torch.cat([a, b])
