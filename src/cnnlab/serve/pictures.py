"""Arrays -> small PNGs for the page (data: URLs, so one JSON answer carries every picture).

Feature maps become one mosaic per layer (channels side by side, one shared scale per layer so
strong and weak channels can be told apart); vectors (fully connected layers) become a strip.
"""

from __future__ import annotations

import base64
import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image

MAX_CHANNELS = 32  # channels shown per layer; the JSON says how many there are
MAX_SIDE = 384  # a larger mosaic (wide networks, big inputs) is shrunk to this many pixels a side


@lru_cache(maxsize=4)
def colormap(name: str) -> np.ndarray:
    """256 x 3 uint8 lookup table of a matplotlib colormap (no pyplot, no figure)."""
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def png_data_url(a: np.ndarray) -> str:
    """uint8 H x W or H x W x 3 -> ``data:image/png;base64,...`` (fast zlib level: these are tiny)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_uint8(a: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return np.clip((a - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def mosaic(maps: np.ndarray, cmap: str = "viridis", gap: int = 1) -> tuple[np.ndarray, int, int]:
    """C x H x W -> (RGB picture of the first MAX_CHANNELS channels in a near-square grid, rows, cols)."""
    shown = maps[:MAX_CHANNELS]
    c, h, w = shown.shape
    cols = max(1, math.ceil(math.sqrt(c * h / w))) if c > 1 else 1
    cols = min(cols, c)
    rows = math.ceil(c / cols)
    scaled = to_uint8(shown)
    lut = colormap(cmap)
    out = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i in range(c):
        r, q = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, q * (w + gap) : q * (w + gap) + w] = lut[scaled[i]]
    if max(out.shape[:2]) > MAX_SIDE:
        scale = MAX_SIDE / max(out.shape[:2])
        size = (max(1, round(out.shape[1] * scale)), max(1, round(out.shape[0] * scale)))
        out = np.asarray(Image.fromarray(out).resize(size, Image.BILINEAR))
    return out, rows, cols


def strip(vector: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """A vector as a one-row strip of coloured cells (a fully connected layer's activations)."""
    return colormap(cmap)[to_uint8(vector.reshape(1, -1))]


def overlay(image: np.ndarray, heat: np.ndarray, scale: int = 4, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a [0, 1] heat map over a uint8 H x W (x C) image, both enlarged ``scale`` times."""
    h, w = image.shape[:2]
    big = (w * scale, h * scale)
    base = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
    base = np.asarray(Image.fromarray(base).convert("RGB").resize(big, Image.NEAREST), np.float32)
    heat = np.asarray(heat, np.float32)
    heat_big = np.asarray(Image.fromarray(to_uint8(heat, 0.0, 1.0)).resize(big, Image.BILINEAR))
    colour = colormap(cmap)[heat_big].astype(np.float32)
    return np.clip((1 - alpha) * base + alpha * colour, 0, 255).astype(np.uint8)
