"""The decoded images of a list of items (image files, tar members), kept where ``--data-cache`` says.

Shared by the image-folder and WebDataset readers: :func:`decode_items` decides the cache mode
(:func:`cnnlab.data.stream.choose_mode`), reads a cache entry or decodes (in worker processes),
and returns the images as a uint8 tensor (``memory``) or a :class:`~cnnlab.data.stream.LazyImages`
(``disk``: a memory-mapped cache file; ``none``: the files themselves). A ``memory`` and a ``disk``
load of the same files share one cache entry (``images.npy``, per-image pixel sums, ``meta.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import CnnlabError
from . import cache
from .options import DataOptions
from .stream import ArrayStore, FileStore, LazyImages, choose_mode

DEFAULT_SIZE = 64


@dataclass
class Decoded:
    images: torch.Tensor | LazyImages
    errors: list[tuple[int, str]] = field(default_factory=list)  # (item index, message): unreadable images
    upsampled: int = 0  # images smaller than the stored size
    notes: list[str] = field(default_factory=list)
    mode: str = "memory"


def stored_size(options: DataOptions) -> tuple[int, int]:
    return options.image_size or DEFAULT_SIZE, options.channels


def decode_items(kind: str, items: list, key: dict, options: DataOptions, what: str) -> Decoded:
    """Decode ``items`` at ``options``' size into the cache mode asked for (``auto``: by the memory budget)."""
    size, channels = stored_size(options)
    need = len(items) * channels * size * size
    limit_fit = f"a smaller --image-size, e.g. {_fitting_size(len(items), channels, options)}"
    mode = choose_mode(
        options.data_cache,
        need,
        options.max_memory_gb,
        f"{what}: {len(items):,} images at {channels}x{size}x{size}",
        limit_fit,
    )
    if mode == "none":
        return Decoded(
            LazyImages(FileStore(items, size, channels)),
            mode="none",
            notes=[
                "--data-cache none: images are decoded from the files at every batch (unreadable "
                "files are found only when a batch reads them)"
            ],
        )
    if mode == "memory":
        return _in_memory(kind, items, key, options)
    return _on_disk(kind, items, key, options)


def _fitting_size(n: int, channels: int, options: DataOptions) -> int:
    from .stream import memory_budget

    return int((memory_budget(options.max_memory_gb)[0] / (max(n, 1) * channels)) ** 0.5)


def _decode(items, options, out=None, sums=None):
    from ..runtime import available_cores
    from .decode import decode_all

    size, channels = stored_size(options)
    workers = options.workers or available_cores()
    return decode_all(items, size, channels, workers, options.progress and len(items) > 256, out, sums)


def _in_memory(kind: str, items: list, key: dict, options: DataOptions) -> Decoded:
    root = options.cache_root()
    hit = cache.load(root, kind, key) if options.cache else None
    if hit is not None:
        arrays, meta = hit
        return Decoded(
            torch.from_numpy(arrays["images"]),
            [tuple(e) for e in meta["errors"]],
            meta.get("upsampled", 0),
            [f"decoded images read from the cache ({cache.entry_dir(root, kind, key)})"],
        )
    images, errors, upsampled, sums = _decode(items, options)
    notes = []
    if options.cache:
        where = cache.store(
            root, kind, key, {"images": images, "sums": sums}, {"errors": errors, "upsampled": upsampled}
        )
        if where is None:
            notes.append(f"cache folder {root} is not writable: the next load decodes again")
    return Decoded(torch.from_numpy(images), errors, upsampled, notes)


def _on_disk(kind: str, items: list, key: dict, options: DataOptions) -> Decoded:
    """Decode straight into a memory-mapped cache file (once), then map it."""
    root = options.cache_root()
    size, channels = stored_size(options)
    hit = cache.load(root, kind, key, mmap=True)
    notes = []
    if hit is None:

        def fill(arrays):
            _, errors, upsampled, _ = _decode(items, options, arrays["images"], arrays["sums"])
            return {"errors": errors, "upsampled": upsampled}

        shapes = {
            "images": ((len(items), channels, size, size), "uint8"),
            "sums": ((len(items), channels, 2), "float64"),
        }
        built = cache.build(root, kind, key, shapes, fill) is not None
        if not built or (hit := cache.load(root, kind, key, mmap=True)) is None:
            raise CnnlabError(
                f"--data-cache disk needs a writable cache folder; {root} is not",
                "pass --cache-dir DIR (a local disk with room for the decoded images), or --data-cache none",
            )
        notes.append(f"decoded once into {cache.entry_dir(root, kind, key)} (--data-cache disk)")
    else:
        notes.append(f"decoded images memory-mapped from the cache ({cache.entry_dir(root, kind, key)})")
    arrays, meta = hit
    store = ArrayStore(cache.entry_dir(root, kind, key) / "images.npy", arrays["images"].shape)
    sums = torch.from_numpy(np.array(arrays["sums"])) if "sums" in arrays else None
    return Decoded(
        LazyImages(store, sums=sums), [tuple(e) for e in meta["errors"]], meta.get("upsampled", 0), notes, mode="disk"
    )
