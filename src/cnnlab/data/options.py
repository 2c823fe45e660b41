"""Data-set options that are not part of the ``NAME[:PATH]`` spec.

``load_data(spec, DataOptions(...))`` or ``load_data(spec, val_split=0.1, image_size=96)``; on the
command line ``cnnlab data SPEC --val-split 0.1 --image-size 96`` (and the trainer's options of the
same names). Every field has a default that reproduces the plain ``load_data(spec)``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import CnnlabError

BAD_IMAGE_POLICIES = ("error", "skip")
CACHE_MODES = ("auto", "memory", "disk", "none")  # cnnlab.data.stream


@dataclass
class DataOptions:
    # validation split, carved from the training images (seeded, stratified): None = the data set's
    # default (10% of each class; 5,000 images for CIFAR as He et al. 2016; an imagefolder's own
    # val/ folder); a fraction in (0, 1) or an image count >= 1 instead; 0 = none (train on every
    # training image, e.g. a recipe that reports test accuracy without selecting anything).
    # The official test split (MNIST t10k, CIFAR test_batch, imagefolder test/) is never a validation split.
    val_split: float | None = None
    seed: int = 0  # seed of the stratified split
    # stored image side in pixels: imagefolder images are resized (shorter side) and centre-cropped
    # to image_size x image_size (None: 64); for fixed-size sets (MNIST, CIFAR) None keeps the
    # native size and a number resizes the whole tensor once at load (bilinear, antialiased).
    image_size: int | None = None
    channels: int = 3  # imagefolder: 3 = RGB, 1 = greyscale
    bad_images: str = "error"  # imagefolder: error (name the file and stop) | skip (skip and count them)
    workers: int = 0  # imagefolder decode processes; 0 = the cores this process may use
    cache: bool = True  # keep decoded arrays so the next load does not decode again
    cache_dir: str | None = None  # default $CNNLAB_CACHE, else $XDG_CACHE_HOME/cnnlab or ~/.cache/cnnlab
    # decoded images in memory only up to this (default: $CNNLAB_DATA_MEMORY, else half the available RAM)
    max_memory_gb: float | None = None
    # where an image folder's / WebDataset's decoded images live (cnnlab.data.stream): memory | disk (a
    # memory-mapped cache file) | none (decoded from the files at every batch) | auto (memory if it fits)
    data_cache: str = "auto"
    # DataLoader processes that read, decode and augment a streamed (disk / none) training set; each takes
    # one core from the trainer's compute threads. None: 1 per 8 cores, at least 1, leaving 1 to compute
    loader_workers: int | None = None
    progress: bool = True  # progress bar while decoding

    def validate(self) -> DataOptions:
        v = self.val_split
        if v is not None and not (0 <= v < 1 or (v >= 1 and float(v).is_integer())):
            raise CnnlabError(
                f"val_split={v} is neither a fraction in [0, 1) nor a whole image count",
                "use e.g. --val-split 0.1 (10% of each class for validation), --val-split 5000 "
                "(5,000 images), or --val-split 0 (no validation split)",
            )
        if self.image_size is not None and not 1 <= self.image_size <= 4096:
            raise CnnlabError(
                f"image_size={self.image_size} is not a side length in pixels", "use e.g. --image-size 64"
            )
        if self.channels not in (1, 3):
            raise CnnlabError(f"channels={self.channels}", "use 1 (greyscale) or 3 (RGB)")
        if self.bad_images not in BAD_IMAGE_POLICIES:
            raise CnnlabError(
                f"bad_images={self.bad_images!r}",
                "use error (stop at the first unreadable "
                "image, naming it) or skip (skip unreadable images and count them)",
            )
        if self.data_cache not in CACHE_MODES:
            raise CnnlabError(
                f"data_cache={self.data_cache!r}",
                "use auto (memory if the decoded images fit the "
                "memory budget, else disk), memory, disk (a memory-mapped cache file) or none "
                "(decode the files at every batch)",
            )
        if self.loader_workers is not None and self.loader_workers < 0:
            raise CnnlabError(
                f"loader_workers={self.loader_workers}",
                "use 0 (read batches in the training process) or a positive count",
            )
        if self.workers < 0:
            raise CnnlabError(f"workers={self.workers}", "use 0 (the available cores) or a positive count")
        return self

    def cache_root(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        if os.environ.get("CNNLAB_CACHE"):
            return Path(os.environ["CNNLAB_CACHE"]).expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        return Path(base) / "cnnlab"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def make(cls, options: DataOptions | dict | None = None, **overrides) -> DataOptions:
        """Options from a DataOptions, a dict and/or keywords; unknown names are a CnnlabError."""
        base = asdict(options) if isinstance(options, DataOptions) else dict(options or {})
        base.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - known)
        if unknown:
            from ..errors import closest

            close = sorted({c for u in unknown for c in closest(u, known)})
            raise CnnlabError(
                f"unknown data option(s): {', '.join(unknown)}",
                (f"did you mean {', '.join(close)}? " if close else "") + f"known: {', '.join(sorted(known))}",
            )
        return cls(**base).validate()
