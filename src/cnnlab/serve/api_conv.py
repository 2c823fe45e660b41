"""The convolution playground: the lectures' examples, their filters, and ``cnnlab explain conv``
(``conv.explain``) for any small single-channel input; the page only draws what comes back."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ..conv import arithmetic as ar
from ..conv.explain import explain_conv, render_conv
from ..conv.filters import FILTERS, make_kernel
from ..conv.matrices import parse_matrix
from ..conv.reference import padding4
from ..errors import CnnlabError
from ..images import to_array
from .errors import ApiError

MAX_INPUT = 64  # cells per side of the playground's input
MAX_KERNEL = 11
MAX_STRIDE = 16
MAX_DILATION = 8
MAX_PADDING = 16
MAX_PRODUCTS = 150_000  # products over all windows (a 64x64 input with a 5x5 kernel needs 102,400)
PHOTO_SIDES = (8, 48)  # a photo or digit is shrunk so its longer side is within these
PHOTO_SIDE = 16

# The lectures' worked examples: (id, label, source, input, suggested kernel and settings)
LECTURE_EXAMPLES = [
    (
        "cross-correlation",
        "3x3 input, 2x2 kernel",
        "lecture 001, '2-D Cross Correlation'",
        "0 1 2; 3 4 5; 6 7 8",
        {"kernel": "0 1; 2 3", "padding": 0, "stride": 1, "dilation": 1},
    ),
    (
        "padding",
        "5x5 picture, sharpen kernel, zero padding 1",
        "lecture 000, 'Spatial Dimension: Padding'",
        "60 113 56 139 85; 73 121 54 84 128; 131 99 70 129 127; 80 57 115 69 134; 104 126 123 95 130",
        {"filter": "sharpen", "padding": 1, "stride": 1, "dilation": 1},
    ),
    (
        "stride",
        "7x7 image, 3x3 filter (try stride 1, 2, 3, 4)",
        "lecture 000, 'Spatial Dimension: Stride'",
        "; ".join(" ".join(str(7 * r + c) for c in range(7)) for r in range(7)),
        {"filter": "box", "padding": 0, "stride": 3, "dilation": 1},
    ),
]


def _matrix(value, label: str, limit: int) -> np.ndarray:
    """A 2-D matrix from a JSON nested list or the CLI's text syntax ('0 1; 2 3'), bounded in size."""
    try:
        if isinstance(value, str):
            if len(value) > 40_000:
                raise ApiError(413, f"the {label} text is too long")
            a = parse_matrix(value, label)
        elif isinstance(value, list):
            a = np.asarray(value, dtype=np.float64)
        else:
            raise ApiError(400, f"the {label} must be a matrix: a nested list or text like '0 1; 2 3'")
    except (ValueError, TypeError):
        raise ApiError(400, f"the {label} is not a matrix of numbers (rows of equal length)") from None
    if a.ndim != 2:
        raise ApiError(
            400,
            f"the {label} must be a single matrix (H x W), got {a.ndim} dimensions",
            "the playground shows one channel; `cnnlab explain conv` takes several",
        )
    if a.shape[0] > limit or a.shape[1] > limit or 0 in a.shape:
        raise ApiError(400, f"the {label} is {a.shape[0]}x{a.shape[1]}; the playground takes 1x1 to {limit}x{limit}")
    if not np.isfinite(a).all():
        raise ApiError(400, f"the {label} holds a value that is not a finite number")
    return a


def _ints(value, label: str, low: int, high: int, counts=(1, 2)) -> int | tuple[int, ...]:
    vals = value if isinstance(value, list) else [value]
    if len(vals) not in counts or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise ApiError(400, f"{label} must be {' or '.join(map(str, counts))} whole number(s), got {value!r}")
    if not all(low <= v <= high for v in vals):
        raise ApiError(400, f"{label} {value!r} is outside {low}..{high}")
    return vals[0] if len(vals) == 1 else tuple(vals)


def kernel_of(body: dict) -> np.ndarray:
    if body.get("filter"):
        size = body.get("size")
        size = None if size is None else _ints(size, "filter size", 1, MAX_KERNEL)
        return make_kernel(str(body["filter"]), size=size)
    if "kernel" not in body:
        raise ApiError(400, "give a 'kernel' (matrix) or a 'filter' (name)")
    return _matrix(body["kernel"], "kernel", MAX_KERNEL)


def unreached(size: int, kernel: int, stride: int, dilation: int, out: int) -> list[int]:
    """Indices of the (padded) input that no window covers along one axis."""
    covered = set()
    for i in range(out):
        covered.update(i * stride + a * dilation for a in range(kernel))
    return [i for i in range(size) if i not in covered]


def _check_work(shape, kshape, stride, padding, dilation) -> None:
    """Refuse, before computing, a playground whose windows would hold more than MAX_PRODUCTS products."""
    (sh, sw), (dh, dw) = ((v, v) if isinstance(v, int) else tuple(v) for v in (stride, dilation))
    pad = padding4(padding, kshape, (dh, dw))
    try:
        oh = ar.conv_output_size(shape[0], kshape[0], sh, pad[:2], dh)
        ow = ar.conv_output_size(shape[1], kshape[1], sw, pad[2:], dw)
    except CnnlabError:
        return  # explain_conv says what does not fit, in its own words
    products = oh * ow * kshape[0] * kshape[1]
    if products > MAX_PRODUCTS:
        raise ApiError(
            400,
            f"{oh}x{ow} windows of {kshape[0]}x{kshape[1]} are {products:,} products, more than the "
            f"{MAX_PRODUCTS:,} the playground animates",
            "use a smaller input, kernel or padding, or a larger stride (`cnnlab explain conv` has no limit)",
        )


def explain(body: dict) -> dict:
    """``cnnlab explain conv`` for the playground: every window, its sum of products (the CLI's
    text line for line), the output-size formula, and whether the stride fits (lecture 000)."""
    if not isinstance(body, dict):
        raise ApiError(400, "send a JSON object")
    x = _matrix(body.get("input"), "input", MAX_INPUT)
    k = kernel_of(body)
    stride = _ints(body.get("stride", 1), "stride", 1, MAX_STRIDE)
    dilation = _ints(body.get("dilation", 1), "dilation", 1, MAX_DILATION)
    padding = body.get("padding", 0)
    if isinstance(padding, str):
        if padding not in ar.PADDING_MODES:
            raise ApiError(400, f"padding {padding!r} is not one of {', '.join(ar.PADDING_MODES)} or a number")
    else:
        padding = _ints(padding, "padding", 0, MAX_PADDING, (1, 2, 4))
    _check_work(x.shape, k.shape, stride, padding, dilation)
    e = explain_conv(x, k, stride=stride, padding=padding, dilation=dilation)
    text = render_conv(e, max_steps=None)
    lines = [line for line in text.splitlines() if line.startswith("out[")]
    d = e.to_dict()
    for step, line in zip(d["steps"], lines, strict=True):
        step["text"] = line
    ph, pw = e.padded.shape[1:]
    kh, kw = e.kernel.shape[2:]
    axes = []
    for axis, size, kern, s, dil, pad, formula in (
        ("height", x.shape[0], kh, e.stride[0], e.dilation[0], e.padding[:2], e.sizes[0]),
        ("width", x.shape[1], kw, e.stride[1], e.dilation[1], e.padding[2:], e.sizes[1]),
    ):
        try:
            ar.check_stride_fits(size, kern, s, pad, dil)
            fits, message = True, None
        except CnnlabError as err:
            fits, message = False, str(err)
        axes.append(
            {
                "axis": axis,
                "fits": fits,
                "message": message,
                "formula": formula.text,
                "unreached": unreached(ph if axis == "height" else pw, kern, s, dil, formula.out),
            }
        )
    d["axes"] = axes
    d["text"] = text
    d["header"] = text.split("\n\n")[0] + "\n\n" + text.split("\n\n")[1]
    return d


@lru_cache(maxsize=1)
def sample_digit() -> list[list[int]]:
    """The first digit of the built-in MNIST sample's test split (28 x 28, 0..255)."""
    from ..data import load_data

    d = load_data("mnist-sample", val_split=0)
    return d.test.images[0, 0].tolist()


def shrink(im: Image.Image, side: int) -> list[list[int]]:
    """A picture as a greyscale matrix whose longer side is ``side`` cells (for the playground)."""
    a = to_array(im, 1)[..., 0]
    h, w = a.shape
    scale = side / max(h, w)
    small = Image.fromarray(a).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    return np.asarray(small).astype(int).tolist()


@lru_cache(maxsize=1)
def sample_photo() -> list[list[int]] | None:
    """scikit-image's cameraman, PHOTO_SIDE cells a side, when scikit-image is installed (no download)."""
    try:
        import skimage.data
    except ImportError:
        return None
    return shrink(Image.fromarray(np.asarray(skimage.data.camera())), PHOTO_SIDE)


def presets() -> dict:
    inputs = [
        {"id": i, "label": label, "source": src, "matrix": parse_matrix(m).astype(int).tolist(), "suggest": s}
        for i, label, src, m, s in LECTURE_EXAMPLES
    ]
    inputs.append(
        {
            "id": "digit",
            "label": "a digit of the built-in MNIST sample (28x28)",
            "source": "mnist-sample, test split, image 0",
            "matrix": sample_digit(),
            "suggest": {"filter": "sobel-x", "padding": 1, "stride": 1, "dilation": 1},
        }
    )
    photo = sample_photo()
    if photo is not None:
        inputs.append(
            {
                "id": "photo",
                "label": f"a photo: cameraman ({len(photo)}x{len(photo[0])})",
                "source": "scikit-image's camera()",
                "matrix": photo,
                "suggest": {"filter": "edge", "padding": 1, "stride": 1, "dilation": 1},
            }
        )
    kernels = [
        {
            "id": f.name,
            "label": f.name,
            "description": f.description,
            "source": f.source,
            "matrix": make_kernel(f.name).tolist(),
        }
        for f in FILTERS.values()
    ]
    return {
        "inputs": inputs,
        "kernels": kernels,
        "limits": {
            "input": MAX_INPUT,
            "kernel": MAX_KERNEL,
            "stride": MAX_STRIDE,
            "dilation": MAX_DILATION,
            "padding": MAX_PADDING,
            "photo_sides": list(PHOTO_SIDES),
        },
    }
