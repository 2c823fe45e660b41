"""The lectures' classic hand-crafted filters applied to real images, with PyTorch's convolution.

Kernels (all applied as cross-correlation, like a CNN layer: ``out[i, j] = sum k[a, b] x[i+a, j+b]``):

=============  ===========================================================  ============================
name           kernel                                                       source
=============  ===========================================================  ============================
identity       3x3 with a 1 in the centre                                   lecture 000, "Identical image"
box            N x N of 1/N^2 (mean blur)                                   lecture 000; lecture 004 box filter
gaussian       N x N, sampled exp(-(a^2+b^2)/2 sigma^2), sums to 1; without  lecture 001 (1/16 [1 2 1; 2 4 2;
               sigma the binomial kernel (N = 3: 1/16 [1 2 1; 2 4 2; 1 2 1])  1 2 1], "Gaussian Blur")
sharpen        [0 -1 0; -1 5 -1; 0 -1 0]                                    lecture 001; lecture 000 padding
sharpen-mean   2 x identity - box: accentuates edges                        lecture 000, "Sharpening filter"
edge           [-1 -1 -1; -1 8 -1; -1 -1 -1] (8-neighbour Laplacian)        lecture 001, "Edge Detection"
sobel-x/-y     [-1 0 1; -2 0 2; -1 0 1] and its transpose                   Sobel & Feldman 1968
shift-*        a single 1 next to the centre: moves the picture one pixel   lecture 000, "Shifted left"
=============  ===========================================================  ============================

Lecture 000 shows ``[0 0 0; 1 0 0; 0 0 0]`` as "shifted left by 1 pixel". That holds for the true
(flipped) convolution the lecture defines; a CNN layer cross-correlates, and there the same kernel
gives ``out[i, j] = x[i, j-1]``: the picture moves right. Here ``shift-left`` is the kernel that moves
the picture left under cross-correlation (``[0 0 0; 0 0 1; 0 0 0]``); ``convolve=True`` flips the
kernel to get the lecture's reading.

Borders: ``zero`` (the lectures' zero padding), ``reflect`` (mirror, edge not repeated),
``replicate`` (edge pixel repeated), ``valid`` (no padding: the output shrinks by ``K - 1``). Colour
images are filtered channel by channel (a depthwise convolution with the same kernel per channel).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CnnlabError, UnknownNameError
from .arithmetic import check_positive, padding_for

BORDERS = ("zero", "reflect", "replicate", "valid")
SCALES = ("clip", "abs", "normalize")


@dataclass(frozen=True)
class FilterSpec:
    name: str
    description: str
    source: str
    build: Callable[..., np.ndarray]
    scale: str = "clip"  # how to turn the response into an 8-bit picture by default
    sized: bool = False  # takes --size
    sigma: bool = False  # takes --sigma


def _delta(n: int = 3) -> np.ndarray:
    k = np.zeros((n, n))
    k[n // 2, n // 2] = 1
    return k


def box_kernel(size: int = 3) -> np.ndarray:
    check_positive("filter size", size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_kernel(size: int = 3, sigma: float | None = None) -> np.ndarray:
    """Normalised Gaussian; with ``sigma=None`` the binomial approximation (rows of Pascal's triangle)."""
    check_positive("filter size", size)
    if sigma is None:
        row = np.array([1.0])
        for _ in range(size - 1):
            row = np.convolve(row, [1.0, 1.0])
        k = np.outer(row, row)
    else:
        if sigma <= 0:
            raise CnnlabError(f"sigma must be positive, got {sigma}", "sigma is the blur radius in pixels, e.g. 1.0")
        r = np.arange(size) - (size - 1) / 2
        g = np.exp(-(r**2) / (2 * sigma**2))
        k = np.outer(g, g)
    return k / k.sum()


def _shift(row: int, col: int) -> Callable[[], np.ndarray]:
    def build() -> np.ndarray:
        k = np.zeros((3, 3))
        k[row, col] = 1
        return k

    return build


SOBEL_X = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])

FILTERS: dict[str, FilterSpec] = {
    f.name: f
    for f in [
        FilterSpec("identity", "leaves the image unchanged", "lecture 000, 'Identical image'", lambda: _delta()),
        FilterSpec(
            "box",
            "mean blur over an N x N window (--size, default 3)",
            "lecture 000 'Blur (with a mean filter)'; lecture 004 box filter",
            box_kernel,
            sized=True,
        ),
        FilterSpec(
            "gaussian",
            "Gaussian blur (--size N, --sigma; without sigma the binomial 1/16 [1 2 1; ...] for N=3)",
            "lecture 001, 'Gaussian Blur'",
            gaussian_kernel,
            sized=True,
            sigma=True,
        ),
        FilterSpec(
            "sharpen",
            "[0 -1 0; -1 5 -1; 0 -1 0]",
            "lecture 001, 'Sharpen'; lecture 000 padding example",
            lambda: np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        ),
        FilterSpec(
            "sharpen-mean",
            "2 x identity - box blur (--size): accentuates edges",
            "lecture 000, 'Sharpening filter'",
            lambda size=3: 2 * _delta(size) - box_kernel(size),
            sized=True,
        ),
        FilterSpec(
            "edge",
            "8-neighbour edge detector [-1 -1 -1; -1 8 -1; -1 -1 -1]",
            "lecture 001, 'Edge Detection'",
            lambda: np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
            scale="abs",
        ),
        FilterSpec(
            "sobel-x",
            "horizontal gradient (responds to vertical edges)",
            "Sobel & Feldman 1968",
            lambda: SOBEL_X.copy(),
            scale="abs",
        ),
        FilterSpec(
            "sobel-y",
            "vertical gradient (responds to horizontal edges)",
            "Sobel & Feldman 1968",
            lambda: SOBEL_X.T.copy(),
            scale="abs",
        ),
        FilterSpec(
            "shift-left", "moves the picture one pixel left", "lecture 000, 'Shifted left by 1 pixel'", _shift(1, 2)
        ),
        FilterSpec(
            "shift-right",
            "moves the picture one pixel right (the lecture's 'shift left' kernel read as cross-correlation)",
            "lecture 000",
            _shift(1, 0),
        ),
        FilterSpec("shift-up", "moves the picture one pixel up", "lecture 000", _shift(2, 1)),
        FilterSpec("shift-down", "moves the picture one pixel down", "lecture 000", _shift(0, 1)),
    ]
}
ALIASES = {"mean": "box", "blur": "box", "laplacian": "edge"}


def get_filter(name: str) -> FilterSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FILTERS:
        raise UnknownNameError("filter", name, [*FILTERS, *ALIASES, "custom"], "cnnlab filter --list")
    return FILTERS[key]


def make_kernel(name: str, size: int | None = None, sigma: float | None = None) -> np.ndarray:
    """The kernel of a named filter; ``size``/``sigma`` only where the filter takes them."""
    spec = get_filter(name)
    kwargs = {}
    if size is not None:
        if not spec.sized:
            raise CnnlabError(
                f"filter {spec.name!r} has a fixed 3x3 kernel and takes no size",
                "sized filters: " + ", ".join(f.name for f in FILTERS.values() if f.sized),
            )
        kwargs["size"] = size
    if sigma is not None:
        if not spec.sigma:
            raise CnnlabError(f"filter {spec.name!r} takes no sigma", "only 'gaussian' has a sigma")
        kwargs["sigma"] = sigma
    return np.asarray(spec.build(**kwargs), dtype=np.float64)


# ------------------------------------------------------------------ images

BUNDLED_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "builtin" / "photos"
SKIMAGE_IMAGES = (
    "camera",
    "astronaut",
    "coffee",
    "chelsea",
    "coins",
    "moon",
    "page",
    "text",
    "rocket",
    "checkerboard",
    "clock",
)


def load_image(spec: str | Path, grey: bool = False, max_size: int | None = None) -> np.ndarray:
    """``skimage:NAME`` (photos scikit-image ships, no download) or an image file -> uint8 H x W x C.

    Greyscale images keep one channel; ``grey=True`` converts colour to one channel (ITU-R 601 luma,
    as PIL's ``convert("L")``). ``max_size`` shrinks the picture so its longer side is at most that.
    """
    from PIL import Image

    text = str(spec)
    if text.startswith("skimage:"):
        name = text.split(":", 1)[1]
        if name not in SKIMAGE_IMAGES:
            raise UnknownNameError("scikit-image photo", name, SKIMAGE_IMAGES)
        bundled = BUNDLED_PHOTOS / f"{name}.png"
        if bundled.is_file():  # scikit-image's own file, shipped with cnnlab (see its README for licences)
            im = Image.open(bundled)
            im.load()
        else:
            try:
                import skimage.data
            except ImportError as e:
                raise CnnlabError(
                    f"skimage:{name} needs scikit-image (cnnlab ships only "
                    f"{', '.join('skimage:' + p.stem for p in sorted(BUNDLED_PHOTOS.glob('*.png')))})",
                    "pip install 'cnnlab[images]' (or pass an image file)",
                ) from e
            im = Image.fromarray(np.asarray(getattr(skimage.data, name)()))
    else:
        from ..images import open_image

        im = open_image(text, fit_within=max_size)  # pixel limit; JPEG drafts, box-reduce towards max_size
    colour = im.mode not in ("L", "1", "I", "I;16", "F", "LA", "La") and not (im.mode == "P" and _palette_is_grey(im))
    if max_size is not None:
        check_positive("--max-size", max_size)
        if max(im.size) > max_size:
            scale = max_size / max(im.size)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    from ..images import to_array

    return to_array(im, 3 if colour and not grey else 1)


def _palette_is_grey(im) -> bool:
    rgb = np.asarray(im.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


def apply_filter(
    image: np.ndarray, kernel: np.ndarray, border: str = "zero", convolve: bool = False, dtype=None
) -> np.ndarray:
    """Filter each channel of ``H x W`` or ``H x W x C`` with ``kernel`` using ``torch`` -> float64 array.

    The output has the input's size, except with ``border="valid"`` (``H-K+1 x W-K+1``). Even kernels
    pad ``ceil`` on top/left and ``floor`` at the bottom/right (lecture 001).
    """
    import torch
    import torch.nn.functional as F

    img = np.asarray(image)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    if img.ndim != 3:
        raise CnnlabError(f"expected an H x W or H x W x C image, got shape {img.shape}")
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2:
        raise CnnlabError(
            f"a filter kernel is one matrix (K_h x K_w), got {k.ndim} dimensions",
            "for colour images the same kernel is used on every channel",
        )
    if convolve:
        k = k[::-1, ::-1].copy()
    if border not in BORDERS:
        raise UnknownNameError("border mode", border, BORDERS)
    h, w, c = img.shape
    kh, kw = k.shape
    dtype = dtype or torch.float64
    x = torch.from_numpy(np.array(img.transpose(2, 0, 1), dtype=np.float64)).to(dtype)[None]
    if border != "valid":
        top, bottom = padding_for("same", kh)
        left, right = padding_for("same", kw)
        if border == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
            raise CnnlabError(
                f"reflect border needs an image larger than the kernel's half-width; "
                f"got {h}x{w} with a {kh}x{kw} kernel",
                "use --border replicate or zero",
            )
        mode = {"zero": "constant", "reflect": "reflect", "replicate": "replicate"}[border]
        x = F.pad(x, (left, right, top, bottom), mode=mode)
    if x.shape[-2] < kh or x.shape[-1] < kw:
        raise CnnlabError(
            f"the {kh}x{kw} kernel is larger than the {'padded ' if border != 'valid' else ''}"
            f"image ({x.shape[-2]}x{x.shape[-1]})",
            "use a smaller kernel or a border mode that pads",
        )
    weight = torch.from_numpy(k).to(dtype)[None, None].repeat(c, 1, 1, 1)
    with torch.no_grad():
        y = F.conv2d(x, weight, groups=c)[0]
    out = y.permute(1, 2, 0).to(torch.float64).numpy()
    return out[..., 0] if squeeze else out


def reference_filter(image: np.ndarray, kernel: np.ndarray, border: str = "zero", convolve: bool = False) -> np.ndarray:
    """The same as :func:`apply_filter`, computed by the NumPy reference :func:`conv2d` (small images only)."""
    from .reference import conv2d, pad2d

    img = np.asarray(image, dtype=np.float64)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[..., None]
    k = np.asarray(kernel, np.float64)
    if convolve:
        k = k[::-1, ::-1]
    x = img.transpose(2, 0, 1)[None]
    if border != "valid":
        top, bottom = padding_for("same", k.shape[0])
        left, right = padding_for("same", k.shape[1])
        x = pad2d(x, (top, bottom, left, right), border)
    c = x.shape[1]
    y = conv2d(x, np.repeat(k[None, None], c, axis=0), groups=c)[0].transpose(1, 2, 0)
    return y[..., 0] if squeeze else y


def to_uint8(response: np.ndarray, scale: str = "clip") -> np.ndarray:
    """A filter response as an 8-bit picture: ``clip`` to 0..255, ``abs`` (magnitude, clipped) or
    ``normalize`` (min..max stretched to 0..255)."""
    r = np.asarray(response, dtype=np.float64)
    if scale == "abs":
        r = np.abs(r)
    elif scale == "normalize":
        lo, hi = r.min(), r.max()
        r = (r - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(r)
    elif scale != "clip":
        raise UnknownNameError("output scale", scale, SCALES)
    return np.clip(np.rint(r), 0, 255).astype(np.uint8)


def save_image(arr: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        Image.fromarray(a).save(path)
    except (ValueError, OSError) as e:
        raise CnnlabError(f"cannot write {path}: {e}", "use a .png (or .jpg) file name in a writable folder") from e
    return path


def compare_image(
    before: np.ndarray, after: np.ndarray, label_before: str = "before", label_after: str = "after"
) -> np.ndarray:
    """Before and after side by side (after centred if ``valid`` made it smaller), labelled; greyscale
    stays one channel (H x W), colour is H x W x 3."""
    from PIL import Image, ImageDraw

    def rgb(a):
        a = np.asarray(a)
        if a.ndim == 2:
            a = a[..., None]
        return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a

    b, a = rgb(before), rgb(after)
    gap, band = 8, 18
    h = max(b.shape[0], a.shape[0])
    slot = max(b.shape[1], a.shape[1])
    canvas = np.full((h + band, b.shape[1] + gap + slot, 3), 255, np.uint8)
    canvas[band : band + b.shape[0], : b.shape[1]] = b
    off = (h - a.shape[0]) // 2
    x0 = b.shape[1] + gap + (slot - a.shape[1]) // 2
    canvas[band + off : band + off + a.shape[0], x0 : x0 + a.shape[1]] = a
    grey = all(np.asarray(v).ndim == 2 or np.asarray(v).shape[2] == 1 for v in (before, after))
    im = Image.fromarray(canvas[..., 0] if grey else canvas)
    draw = ImageDraw.Draw(im)
    ink = 0 if grey else (0, 0, 0)
    draw.text((2, 3), label_before, fill=ink)
    draw.text((b.shape[1] + gap + 2, 3), label_after, fill=ink)
    return np.asarray(im)


@dataclass
class FilterResult:
    image: np.ndarray  # uint8 input, H x W x C
    kernel: np.ndarray
    response: np.ndarray | None  # float64, the raw filter output (None for images filtered in strips)
    picture: np.ndarray  # uint8, what is saved
    border: str
    scale: str
    low: float = 0.0  # the raw output's range
    high: float = 0.0


STRIP_PIXELS = 1 << 20  # images above this many pixels are filtered in strips of rows (bounded memory)


def filter_in_strips(
    image: np.ndarray, kernel: np.ndarray, border: str, convolve: bool, scale: str, strip_pixels: int = STRIP_PIXELS
) -> tuple[np.ndarray, float, float]:
    """:func:`apply_filter` + :func:`to_uint8` on strips of rows: the same numbers as one pass, but the
    float64 response of only one strip is ever held (``normalize`` takes a first pass for the range).
    Returns (uint8 picture, response minimum, response maximum)."""
    img = np.asarray(image)
    grey = img.ndim == 2
    if grey:
        img = img[..., None]
    k = np.asarray(kernel, dtype=np.float64)
    if convolve:
        k = k[::-1, ::-1].copy()
    kh, kw = k.shape
    h, w, c = img.shape
    if border != "valid":
        top, bottom = padding_for("same", kh)
        left, right = padding_for("same", kw)
        if border == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
            return _whole(image, kernel, border, convolve, scale)
        mode = {"zero": "constant", "reflect": "reflect", "replicate": "edge"}[border]
        img = np.pad(img, ((top, bottom), (left, right), (0, 0)), mode=mode)
    out_h, out_w = img.shape[0] - kh + 1, img.shape[1] - kw + 1
    if out_h < 1 or out_w < 1:
        return _whole(image, kernel, border, convolve, scale)
    rows = max(1, strip_pixels // max(1, img.shape[1] * c))

    def strips():
        for r0 in range(0, out_h, rows):
            r1 = min(out_h, r0 + rows)
            yield r0, r1, apply_filter(img[r0 : r1 + kh - 1], k, "valid")

    low, high = np.inf, -np.inf
    if scale == "normalize":
        for _, _, y in strips():
            low, high = min(low, float(y.min())), max(high, float(y.max()))
    picture = np.empty((out_h, out_w, c), dtype=np.uint8)
    for r0, r1, y in strips():
        low, high = min(low, float(y.min())), max(high, float(y.max()))
        if scale == "normalize":
            picture[r0:r1] = np.clip(np.rint((y - low) * (255.0 / (high - low))), 0, 255) if high > low else 0
        else:
            picture[r0:r1] = to_uint8(y, scale)
    return (picture[..., 0] if grey else picture), low, high


def _whole(image, kernel, border, convolve, scale):
    response = apply_filter(image, kernel, border, convolve)
    return to_uint8(response, scale), float(response.min()), float(response.max())


def run_filter(
    name: str,
    image: str | Path | np.ndarray,
    kernel=None,
    size: int | None = None,
    sigma: float | None = None,
    border: str = "zero",
    scale: str | None = None,
    grey: bool = False,
    convolve: bool = False,
    max_size: int | None = None,
) -> FilterResult:
    """Load (if a path or ``skimage:NAME``), filter and convert to 8 bits: the whole ``cnnlab filter``."""
    if kernel is not None:
        from .matrices import load_matrix

        k = load_matrix(kernel, label="--kernel")
        if k.ndim != 2:
            raise CnnlabError(
                f"--kernel must be one matrix, got {k.ndim} dimensions",
                "the same kernel is applied to every colour channel",
            )
        spec_scale = "clip"
    else:
        k = make_kernel(name, size, sigma)
        spec_scale = get_filter(name).scale
    img = image if isinstance(image, np.ndarray) else load_image(image, grey=grey, max_size=max_size)
    scale = scale or spec_scale
    if scale not in SCALES:
        raise UnknownNameError("output scale", scale, SCALES)
    if img.shape[0] * img.shape[1] > STRIP_PIXELS:  # bounded memory: one strip of float64 at a time
        picture, low, high = filter_in_strips(img, k, border, convolve, scale)
        return FilterResult(img, k, None, picture, border, scale, low, high)
    response = apply_filter(img, k, border, convolve)
    return FilterResult(
        img, k, response, to_uint8(response, scale), border, scale, float(response.min()), float(response.max())
    )
