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


@dataclass
class DataOptions:
    # held-out split: None = the data set's own (MNIST t10k, CIFAR test, imagefolder val/); a fraction
    # in (0, 1) = a seeded stratified slice of the training split instead (the own held-out split is
    # then not used). A single imagefolder (no train/ and val/) defaults to 0.2.
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
    max_memory_gb: float | None = None  # refuse data sets larger than this in memory (default: half the free RAM)
    progress: bool = True  # progress bar while decoding

    def validate(self) -> "DataOptions":
        if self.val_split is not None and not 0 < self.val_split < 1:
            raise CnnlabError(f"val_split={self.val_split} is not a fraction in (0, 1)",
                              "use e.g. --val-split 0.1 (10% of each class held out)")
        if self.image_size is not None and not 1 <= self.image_size <= 4096:
            raise CnnlabError(f"image_size={self.image_size} is not a side length in pixels", "use e.g. --image-size 64")
        if self.channels not in (1, 3):
            raise CnnlabError(f"channels={self.channels}", "use 1 (greyscale) or 3 (RGB)")
        if self.bad_images not in BAD_IMAGE_POLICIES:
            raise CnnlabError(f"bad_images={self.bad_images!r}", "use error (stop at the first unreadable "
                              "image, naming it) or skip (skip unreadable images and count them)")
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
    def make(cls, options: "DataOptions | dict | None" = None, **overrides) -> "DataOptions":
        """Options from a DataOptions, a dict and/or keywords; unknown names are a CnnlabError."""
        base = asdict(options) if isinstance(options, DataOptions) else dict(options or {})
        base.update(overrides)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - known)
        if unknown:
            from ..errors import closest
            close = sorted({c for u in unknown for c in closest(u, known)})
            raise CnnlabError(f"unknown data option(s): {', '.join(unknown)}",
                              (f"did you mean {', '.join(close)}? " if close else "") +
                              f"known: {', '.join(sorted(known))}")
        return cls(**base).validate()
