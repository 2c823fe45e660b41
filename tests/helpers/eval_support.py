"""Helpers of the evaluation tests (a module name of its own: `conftest` is ambiguous across folders):
a tiny three-class image folder the tests write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["horizontal", "noise", "vertical"]
SIZE = 28


def pattern(cls: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.integers(0, 90, (SIZE, SIZE)).astype(np.int64)
    if cls == 0:
        a[rng.integers(0, 3) :: 4] += 150
    elif cls == 2:
        a[:, rng.integers(0, 3) :: 4] += 150
    else:
        a += rng.integers(0, 140, (SIZE, SIZE))
    return np.clip(a, 0, 255).astype(np.uint8)


def write_folder(root: Path, per_class: dict[str, int], seed: int = 0) -> dict[str, list[np.ndarray]]:
    """root/SPLIT/CLASS/i.png greyscale at the model's size (PNG: decoded exactly as written)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in per_class.items():
        arrays[split] = []
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                a = pattern(k, rng)
                Image.fromarray(a).save(folder / f"{i:03d}.png")
                arrays[split].append((k, a))
    return arrays


DATA_OPTIONS = {"image_size": SIZE, "channels": 1, "workers": 1, "cache": False, "progress": False}
