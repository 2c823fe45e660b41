"""Reading image files into tensors, with errors that name the file and bounded memory.

Image files are untrusted input: a few hundred kilobytes of PNG can declare 12000 x 12000 pixels.
:func:`open_image` therefore

- reads only regular files (a FIFO or device named ``.png`` would block the reader forever),
- looks at the declared size before decoding and refuses anything above :func:`max_pixels`
  (64 megapixels unless raised by ``cnnlab --max-pixels N`` or ``CNNLAB_MAX_PIXELS``), after
  asking JPEG's decoder for a reduced scale (Pillow's ``draft``: 1/2, 1/4 or 1/8, nearly free)
  where that brings it under the limit or where the caller only needs ``reduce_to`` pixels,
- shrinks a decoded image that is much larger than ``reduce_to`` at once (``Image.reduce``, a box
  filter), so later conversions copy the small picture,
- returns 8-bit pixels: 16-bit greyscale is scaled by 255/65535 and floating-point images (TIFF
  ``F``) by 255 when their values lie in [0, 1], otherwise stretched from their minimum to their
  maximum (Pillow's own conversion clips them to 0 or 255).
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CnnlabError

DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_ENV = "CNNLAB_MAX_PIXELS"
_max_pixels_override: int | None = None

# Pillow's own bomb check (a warning above 89 MP, an error above 179 MP) is replaced by ours, which
# states the limit and how to raise it.
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int:
    """The largest image (width x height, after any reduced JPEG decode) that cnnlab decodes."""
    if _max_pixels_override is not None:
        return _max_pixels_override
    env = os.environ.get(MAX_PIXELS_ENV)
    if env:
        try:
            value = int(float(env))
        except ValueError:
            raise CnnlabError(
                f"{MAX_PIXELS_ENV}={env!r} is not a number of pixels", f"e.g. {MAX_PIXELS_ENV}=200000000"
            ) from None
        if value <= 0:
            raise CnnlabError(f"{MAX_PIXELS_ENV} must be positive, got {value}")
        return value
    return DEFAULT_MAX_PIXELS


def set_max_pixels(value: int | None) -> None:
    """Raise (or lower) the pixel limit for this process; ``None`` goes back to the environment/default."""
    global _max_pixels_override
    if value is not None and value <= 0:
        raise CnnlabError(f"--max-pixels must be positive, got {value}")
    _max_pixels_override = value


def check_regular_file(path: Path, what: str = "an image file") -> None:
    """Refuse missing paths, folders, FIFOs, sockets and devices (reading those blocks or never ends)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise CnnlabError(
                f"{path}: a symbolic link to {os.readlink(path)}, which does not exist",
                "remove the dangling link or restore its target",
            ) from None
        raise CnnlabError(f"{what.split(' ', 1)[1]} not found: {path}") from None
    except OSError as e:
        raise CnnlabError(f"{path}: cannot read ({e.strerror})") from e
    if stat.S_ISDIR(st.st_mode):
        raise CnnlabError(f"{path} is a folder, not {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a FIFO (named pipe)"
            if stat.S_ISFIFO(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "not a regular file"
        )
        raise CnnlabError(f"{path} is {kind}, not {what}", "cnnlab reads regular files only")


def _too_large(path: Path, size: tuple[int, int], limit: int) -> CnnlabError:
    w, h = size
    return CnnlabError(
        f"{path}: {w}x{h} pixels ({w * h / 1e6:,.0f} MP) is more than the {limit / 1e6:,.0f} MP cnnlab decodes",
        f"raise the limit with `cnnlab --max-pixels {w * h} ...` (or "
        f"{MAX_PIXELS_ENV}={w * h}) if the file is trusted and memory allows (about "
        f"{w * h * 4 / 2**30:.1f} GiB to decode); or shrink the image first",
    )


def open_image(
    path: str | Path | io.BytesIO, reduce_to: int | None = None, fit_within: int | None = None
) -> Image.Image:
    """Open and decode an image file into an 8-bit Pillow image, within the pixel limit.

    ``reduce_to`` (pixels): the caller needs the shorter side only this large; ``fit_within``: the
    caller shrinks the longer side to this. Either way JPEGs are decoded at a reduced scale and large
    pictures are box-reduced right after decoding (never below what the caller needs).
    """

    def can_halve(w: int, h: int, scale: int, margin: int = 1) -> bool:
        """Whether the image at 1/(2 scale) still covers ``margin`` times what the caller needs."""
        if reduce_to:
            return min(w, h) // (2 * scale) >= margin * reduce_to
        if fit_within:
            return max(w, h) // (2 * scale) >= margin * fit_within
        return False

    if not hasattr(path, "read"):  # a file object (a tar member's bytes) is already open
        path = Path(path)
        check_regular_file(path)
    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
            try:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise CnnlabError(f"{path}: declares an empty {w}x{h} image")
                if im.format == "JPEG" and (reduce_to or fit_within or w * h > limit):
                    scale = 1
                    while scale < 8 and ((w // scale) * (h // scale) > limit or can_halve(w, h, scale)):
                        scale *= 2
                    if scale > 1:
                        im.draft(im.mode, (w // scale, h // scale))
                if im.size[0] * im.size[1] > limit:
                    raise _too_large(path, (w, h), limit)
                im.load()  # a single-frame file is closed after loading; no copy of the pixels is made
                out = im if getattr(im, "n_frames", 1) == 1 else im.copy()
            finally:
                if getattr(im, "n_frames", 1) != 1:
                    im.close()
    except CnnlabError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise CnnlabError(
            f"{path}: not a readable image ({e.__class__.__name__}: {e})",
            "pass a PNG, JPEG, BMP, GIF, TIFF or WebP file",
        ) from e
    out = to_8bit(out)
    factor = 1
    while can_halve(*out.size, factor, margin=2):  # leave the final antialiased resize 2x or more to do
        factor *= 2
    if factor >= 2 and out.mode not in ("P", "1"):  # box-average; the caller's resize finishes the job
        out = out.reduce(factor)
    return out


def to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer images scaled to 0..255 by their bit depth, float images by their
    range (x 255 when in [0, 1], else minimum..maximum); 8-bit modes are returned unchanged."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I" or mode == "F":
        a = np.asarray(im)
        if a.dtype.kind == "f":
            a = a.astype(np.float64)
            finite = np.isfinite(a)
            lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 0.0)
            if lo >= 0.0 and hi <= 1.0:
                scaled = a * 255.0
            elif hi > lo:
                scaled = (a - lo) * (255.0 / (hi - lo))
            else:
                scaled = np.zeros_like(a)
            scaled = np.where(finite, scaled, 0.0)
        else:
            a = a.astype(np.int64)
            bits = 16 if mode.startswith("I;16") or (a.min(initial=0) >= 0 and a.max(initial=0) <= 65535) else 32
            if bits == 32:
                lo, hi = int(a.min()), int(a.max())
                scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros(a.shape)
            else:
                scaled = a * (255.0 / 65535.0)
        im = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
    elif mode in ("RGB;16", "RGBA;16", "I;16B", "I;16L"):  # pragma: no cover - Pillow reads these as 8-bit
        im = im.convert("RGB")
    return im


def to_array(im: Image.Image, channels: int) -> np.ndarray:
    """uint8 H x W x C array with ``channels`` (1 = greyscale, 3 = RGB); alpha is composited on white.

    A camera's EXIF orientation is applied first, so a phone photo is upright.
    """
    if im.getexif().get(0x0112, 1) not in (None, 1):  # exif_transpose copies even when there is nothing to do
        im = ImageOps.exif_transpose(im)
    im = to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    if channels == 1:
        return np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.uint8)[..., None]
    if channels == 3:
        return np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    raise CnnlabError(
        f"models with {channels} input channels cannot read image files",
        "use a model with 1 (greyscale) or 3 (RGB) input channels",
    )


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
