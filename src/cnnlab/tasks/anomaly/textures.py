"""The built-in defect set ``defects-sample``: procedural textures with drawn defects, masks exact.

Everything is NumPy and seeded: the same files every time, on every machine. The images (about
4 MB of noisy PNGs) are too large to ship in the package, so they are generated on first use into
the cache folder (``$CNNLAB_CACHE``, else ``~/.cache/cnnlab``) in the MVTec AD layout and read back
by the same reader as MVTec AD itself (``data.py``).

Textures (one category each): ``weave`` (a woven fabric: crossed threads with slub noise) and
``grain`` (wood grain: stripes bent by smooth noise). Every image has its own phase, brightness and
noise, so the normal images vary. Defects, each with its exact mask:

- ``scratch``: a bright or dark polyline, 1.5-3 px wide;
- ``hole``: a dark ellipse, 5-11 px radii;
- ``stain``: a brown-tinted blob (union of overlapping discs) blended at 55-75 % opacity.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 20261130
SIZE = 128
VERSION = 1
COUNTS = {"train/good": 60, "test/good": 12, "test/scratch": 10, "test/hole": 10, "test/stain": 10}
DEFECTS = ("scratch", "hole", "stain")


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise (through the FFT), scaled to unit standard deviation."""
    white = rng.standard_normal((size, size))
    f = np.fft.fftfreq(size)
    g = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    out = np.real(np.fft.ifft2(np.fft.fft2(white) * g))
    return out / (out.std() + 1e-12)


def weave(rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    period = 8.0
    px, py = rng.uniform(0, period, 2)
    warp = np.abs(np.sin(np.pi * (x + px) / period))
    weft = np.abs(np.sin(np.pi * (y + py) / period))
    over = (np.floor((x + px) / period) + np.floor((y + py) / period)) % 2 == 0  # plain weave
    thread = np.where(over, warp, weft)
    lum = 0.35 + 0.4 * thread + 0.05 * _smooth_noise(rng, size, 6) + 0.03 * rng.standard_normal((size, size))
    tint = np.array([0.78, 0.66, 0.5]) * rng.uniform(0.95, 1.05)
    return lum[..., None] * tint / 0.75


def grain(rng: np.random.Generator, size: int) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    bend = 6.0 * _smooth_noise(rng, size, 12)
    rings = 0.5 + 0.5 * np.sin(2 * np.pi * (x + bend + rng.uniform(0, 10)) / 10.0)
    lum = 0.45 + 0.25 * rings**3 + 0.04 * _smooth_noise(rng, size, 3) + 0.02 * rng.standard_normal((size, size))
    tint = np.array([0.85, 0.6, 0.38]) * rng.uniform(0.95, 1.05)
    return lum[..., None] * tint / 0.6


TEXTURES = {"weave": weave, "grain": grain}


def _segment_distance(y, x, a, b) -> np.ndarray:
    ab = b - a
    t = np.clip(((y - a[0]) * ab[0] + (x - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9), 0, 1)
    return np.hypot(y - (a[0] + t * ab[0]), x - (a[1] + t * ab[1]))


def draw_defect(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(image with the defect, boolean mask of exactly the changed pixels)."""
    size = img.shape[0]
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    lo, hi = 0.2 * size, 0.8 * size
    if kind == "scratch":
        pts = [rng.uniform(lo, hi, 2)]
        for _ in range(int(rng.integers(2, 4))):
            step = rng.uniform(0.12, 0.25) * size
            angle = rng.uniform(0, 2 * np.pi)
            pts.append(np.clip(pts[-1] + step * np.array([np.sin(angle), np.cos(angle)]), 4, size - 5))
        dist = np.min([_segment_distance(y, x, a, b) for a, b in zip(pts, pts[1:])], axis=0)
        mask = dist <= rng.uniform(0.75, 1.5)
        colour = np.full(3, 0.95 if rng.random() < 0.5 else 0.12)
        out = img.copy()
        out[mask] = colour
    elif kind == "hole":
        cy, cx = rng.uniform(lo, hi, 2)
        ry, rx = rng.uniform(5, 11, 2)
        mask = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0
        out = img.copy()
        out[mask] = 0.06 + 0.1 * img[mask] * 0.3
    elif kind == "stain":
        cy, cx = rng.uniform(lo, hi, 2)
        mask = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(3, 6))):
            oy, ox = rng.normal(0, 4, 2)
            mask |= np.hypot(y - cy - oy, x - cx - ox) <= rng.uniform(4, 8)
        alpha = rng.uniform(0.55, 0.75)
        out = img.copy()
        out[mask] = (1 - alpha) * img[mask] + alpha * np.array([0.35, 0.2, 0.08])
    else:
        raise ValueError(kind)
    return out, mask


def _to_png(a: np.ndarray, path: Path) -> None:
    Image.fromarray(np.clip(np.round(a * 255), 0, 255).astype(np.uint8)).save(path, optimize=True)


def generate(root: Path, category: str, size: int = SIZE, seed: int = SEED) -> Path:
    """Write one category in the MVTec AD layout under ``root/category``; returns that folder."""
    texture = TEXTURES[category]
    rng = np.random.default_rng([seed, list(TEXTURES).index(category)])
    out = Path(root) / category
    for part, n in COUNTS.items():
        kind = part.split("/")[1]
        (out / part).mkdir(parents=True, exist_ok=True)
        if kind in DEFECTS:
            (out / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = texture(rng, size)
            if kind in DEFECTS:
                img, mask = draw_defect(img, kind, rng)
                Image.fromarray(mask.astype(np.uint8) * 255).save(out / "ground_truth" / kind / f"{i:03d}_mask.png")
            _to_png(img, out / part / f"{i:03d}.png")
    return out


def sample_path(category: str = "weave", cache_root: Path | None = None) -> Path:
    """The folder of a built-in category, generated (atomically) on first use."""
    from ...data.options import DataOptions

    root = Path(cache_root) if cache_root else DataOptions().cache_root()
    final = root / f"defects-sample-v{VERSION}" / category
    if (final / "test").is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{category}."))
    try:
        generate(tmp, category)
        try:
            os.replace(tmp / category, final)
        except OSError:  # another process finished first
            if not (final / "test").is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
