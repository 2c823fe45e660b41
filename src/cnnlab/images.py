"""Reading image files into tensors, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CnnlabError


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file; a missing or non-image file names the path."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"image file not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise CnnlabError(f"{path}: not a readable image ({e.__class__.__name__}: {e})",
                          "pass a PNG, JPEG, BMP, GIF, TIFF or WebP file") from e


def to_array(im: Image.Image, channels: int) -> np.ndarray:
    """uint8 H x W x C array with ``channels`` (1 = greyscale, 3 = RGB); alpha is composited on white.

    A camera's EXIF orientation is applied first, so a phone photo is upright.
    """
    im = ImageOps.exif_transpose(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if channels == 1:
        return np.asarray(im.convert("L"), dtype=np.uint8)[..., None]
    if channels == 3:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    raise CnnlabError(f"models with {channels} input channels cannot read image files",
                      "use a model with 1 (greyscale) or 3 (RGB) input channels")


def resize_and_center_crop(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """H x W x C uint8 -> height x width x C: scale so the image covers the target, then centre-crop.

    The one resizing rule of cnnlab: data sets of image files are stored this way and prediction
    prepares new images the same way (no distortion of the aspect ratio).
    """
    channels = a.shape[-1]
    pim = Image.fromarray(a[..., 0] if channels == 1 else a)
    w, h = pim.size
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    if (nw, nh) != (w, h):
        pim = pim.resize((nw, nh), Image.BILINEAR)  # Pillow's resize filters antialias when shrinking
    left, top = (nw - width) // 2, (nh - height) // 2
    out = np.asarray(pim.crop((left, top, left + width, top + height)), dtype=np.uint8)
    return out.reshape(height, width, channels)
