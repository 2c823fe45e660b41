"""From-scratch NumPy reference of the operations the lectures define, written to be read.

Each function computes the definition with explicit loops over output positions (the windows are
NumPy slices), in float64. They are slow and meant for small inputs: the tests check each one against
``torch.nn.functional`` over random shapes and hyper-parameters, and against the lectures' worked
examples, so that what cnnlab runs (PyTorch) is shown to compute what the lectures define.

Shapes follow PyTorch: images ``N x C x H x W``, convolution weights ``C_out x C_in/G x K_h x K_w``.
Padding is an int (all sides), ``(p_h, p_w)``, ``(top, bottom, left, right)``, or one of the
lectures' modes ``"valid"``, ``"same"``, ``"full"`` (see :func:`cnnlab.conv.arithmetic.padding_for`).
"""

from __future__ import annotations

import numpy as np

from ..errors import CnnlabError
from .arithmetic import (
    check_groups,
    check_positive,
    conv_output_size,
    effective_kernel,
    resolve_padding,
    tconv_output_size,
)

Pad4 = tuple[int, int, int, int]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, tuple | list):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def padding4(padding, kernel: tuple[int, int] = (1, 1), dilation: tuple[int, int] = (1, 1)) -> Pad4:
    """Any accepted padding -> ``(top, bottom, left, right)``."""
    if isinstance(padding, str):
        top, bottom = resolve_padding(padding, kernel[0], dilation[0])
        left, right = resolve_padding(padding, kernel[1], dilation[1])
        return top, bottom, left, right
    if isinstance(padding, tuple | list):
        if len(padding) == 2:
            (top, bottom), (left, right) = resolve_padding(int(padding[0]), 1), resolve_padding(int(padding[1]), 1)
            return top, bottom, left, right
        if len(padding) == 4:
            top, bottom = resolve_padding((int(padding[0]), int(padding[1])), 1)
            left, right = resolve_padding((int(padding[2]), int(padding[3])), 1)
            return top, bottom, left, right
        raise CnnlabError(f"padding {padding!r}: give 1, 2 (h, w) or 4 (top, bottom, left, right) numbers")
    p = resolve_padding(int(padding), 1)[0]
    return p, p, p, p


def pad2d(x: np.ndarray, pad: Pad4, mode: str = "zero", value: float = 0.0) -> np.ndarray:
    """Pad the last two axes by ``(top, bottom, left, right)``.

    ``zero`` (or ``constant`` with ``value``), ``reflect`` (mirror without repeating the edge:
    ``c b | a b c | b a``), ``replicate`` (repeat the edge pixel: ``a a | a b c | c c``).
    """
    top, bottom, left, right = pad
    widths = [(0, 0)] * (x.ndim - 2) + [(top, bottom), (left, right)]
    if mode in ("zero", "constant"):
        return np.pad(x, widths, mode="constant", constant_values=value)
    if mode == "reflect":
        h, w = x.shape[-2:]
        if max(top, bottom) >= h or max(left, right) >= w:
            raise CnnlabError(
                f"reflect padding of {max(pad)} needs an input larger than that; got {h}x{w}",
                "use --border replicate or zero for tiny images",
            )
        return np.pad(x, widths, mode="reflect")
    if mode == "replicate":
        return np.pad(x, widths, mode="edge")
    from ..errors import UnknownNameError

    raise UnknownNameError("border mode", mode, ["zero", "reflect", "replicate"])


def corr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """2-D cross-correlation, lecture 001: ``Y[i, j] = sum_{a,b} K[a, b] X[i+a, j+b]``, size ``n - k + 1``."""
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    kh, kw = k.shape
    oh = conv_output_size(x.shape[0], kh)
    ow = conv_output_size(x.shape[1], kw)
    y = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[i, j] = (x[i : i + kh, j : j + kw] * k).sum()
    return y


def conv2d(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride=1, padding=0, dilation=1, groups: int = 1
) -> np.ndarray:
    """Convolution layer (cross-correlation) on ``N x C_in x H x W``, as ``torch.nn.functional.conv2d``.

    Output channel ``o`` belongs to group ``g = o // (C_out/G)`` and sums over that group's
    ``C_in/G`` input channels (lecture 004, "Group Convolutions"); ``groups = C_in`` is the depthwise
    convolution (lecture 000). Each output element is the dot product of the kernel with the
    (dilated, strided) window of the zero-padded input, plus the bias (lecture 001).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if x.ndim != 4 or w.ndim != 4:
        raise CnnlabError(
            f"conv2d expects a N x C x H x W input and a C_out x C_in/G x K_h x K_w weight, "
            f"got shapes {x.shape} and {w.shape}"
        )
    n, c_in, h, wd = x.shape
    c_out, c_in_g, kh, kw = w.shape
    check_groups(c_in, c_out, groups)
    if c_in // groups != c_in_g:
        raise CnnlabError(
            f"weight expects {c_in_g} input channels per group, the input has {c_in} channels "
            f"in {groups} group(s) ({c_in // groups} each)"
        )
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    for name, v in (("stride", sh), ("stride", sw), ("dilation", dh), ("dilation", dw)):
        check_positive(name, v)
    top, bottom, left, right = padding4(padding, (kh, kw), (dh, dw))
    oh = conv_output_size(h, kh, sh, (top, bottom), dh)
    ow = conv_output_size(wd, kw, sw, (left, right), dw)
    xp = pad2d(x, (top, bottom, left, right))
    out_per_group = c_out // groups
    y = np.zeros((n, c_out, oh, ow))
    span_h, span_w = effective_kernel(kh, dh), effective_kernel(kw, dw)
    for o in range(c_out):
        g = o // out_per_group
        channels = slice(g * c_in_g, (g + 1) * c_in_g)
        for i in range(oh):
            for j in range(ow):
                window = xp[:, channels, i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw]
                y[:, o, i, j] = (window * w[o]).sum(axis=(1, 2, 3))
        if bias is not None:
            y[:, o] += np.asarray(bias, dtype=np.float64)[o]
    return y


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> np.ndarray:
    """Transposed convolution (lecture 002) on ``N x C_in x H x W``, as ``torch.nn.functional.conv_transpose2d``.

    Weights are ``C_in x C_out/G x K_h x K_w`` (PyTorch's layout). Each input element ``x[c, i, j]``
    adds ``x[c, i, j] * K[c]`` into the output with the kernel's top-left tap at ``(i s, j s)`` (taps
    ``d`` apart); the sum over all input elements and channels of the group is the uncropped output
    of ``(n - 1)s + d(k - 1) + 1`` (+ ``output_padding``) pixels, from which ``padding`` rows and
    columns are cut on each side (see :func:`cnnlab.conv.arithmetic.tconv_output_size`).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if x.ndim != 4 or w.ndim != 4:
        raise CnnlabError(
            f"conv_transpose2d expects a N x C_in x H x W input and a C_in x C_out/G x K_h x K_w "
            f"weight, got shapes {x.shape} and {w.shape}"
        )
    n, c_in, h, wd = x.shape
    if w.shape[0] != c_in:
        raise CnnlabError(f"the weight has {w.shape[0]} input channels (its first axis), the input has {c_in}")
    c_out_g, kh, kw = w.shape[1:]
    check_groups(c_in, c_out_g * groups, groups)
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = (_pair(v) for v in (stride, padding, output_padding, dilation))
    oh = tconv_output_size(h, kh, sh, ph, oph, dh)
    ow = tconv_output_size(wd, kw, sw, pw, opw, dw)
    span_h, span_w = effective_kernel(kh, dh), effective_kernel(kw, dw)
    full = np.zeros((n, c_out_g * groups, (h - 1) * sh + span_h + oph, (wd - 1) * sw + span_w + opw))
    c_in_g = c_in // groups
    for c in range(c_in):
        g = c // c_in_g
        outs = slice(g * c_out_g, (g + 1) * c_out_g)
        for i in range(h):
            for j in range(wd):
                # x[:, c, i, j] (N) times the kernel (C_out/G x K_h x K_w), placed at (i s, j s)
                full[:, outs, i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw] += (
                    x[:, c, i, j, None, None, None] * w[c][None]
                )
    y = full[:, :, ph : ph + oh, pw : pw + ow].copy()
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64).reshape(1, -1, 1, 1)
    return y


def _pool(x, kernel, stride, padding, dilation, ceil_mode, reduce):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise CnnlabError(f"pooling expects a N x C x H x W input, got shape {x.shape}")
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    dh, dw = _pair(dilation)
    top, bottom, left, right = padding4(padding, (kh, kw), (dh, dw))
    h, w = x.shape[-2:]
    oh = conv_output_size(h, kh, sh, (top, bottom), dh, ceil_mode)
    ow = conv_output_size(w, kw, sw, (left, right), dw, ceil_mode)
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(i * sh - top, j * sw - left, (kh, kw), (dh, dw), (top, bottom, left, right))
    return y


def max_pool2d(x: np.ndarray, kernel, stride=None, padding=0, dilation=1, ceil_mode: bool = False) -> np.ndarray:
    """Maximum over each window (lecture 001, "2-D Max Pooling"); padding never wins (it is -inf).

    ``stride`` defaults to the kernel (non-overlapping windows); AlexNet's overlapping pooling is
    ``kernel=3, stride=2`` (lecture 002). In ceil mode a last, partial window is kept when it starts
    inside the input or the left padding (as PyTorch does).
    """
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape[-2:]

    def reduce(r0, c0, k, d, pad):
        rows = [r for r in range(r0, r0 + d[0] * (k[0] - 1) + 1, d[0]) if 0 <= r < h]
        cols = [c for c in range(c0, c0 + d[1] * (k[1] - 1) + 1, d[1]) if 0 <= c < w]
        if not rows or not cols:  # a dilated window that only touches padding: -inf, as PyTorch gives
            return np.full(x.shape[:2], -np.inf)
        return x[:, :, rows][:, :, :, cols].max(axis=(2, 3))

    return _pool(x, kernel, stride, padding, dilation, ceil_mode, reduce)


def avg_pool2d(
    x: np.ndarray, kernel, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True
) -> np.ndarray:
    """Mean over each window (lecture 001, "Average Pooling").

    The divisor follows PyTorch: with ``count_include_pad`` it is the window's area inside the
    padded input (zeros of the padding count, cells past it in ceil mode do not); without, only the
    real input pixels in the window.
    """
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape[-2:]

    def reduce(r0, c0, k, d, pad):
        top, bottom, left, right = pad
        r1, c1 = min(r0 + k[0], h + bottom), min(c0 + k[1], w + right)
        padded_area = (r1 - r0) * (c1 - c0)
        ra, rb, ca, cb = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
        total = x[:, :, ra:rb, ca:cb].sum(axis=(2, 3))
        return total / (padded_area if count_include_pad else (rb - ra) * (cb - ca))

    return _pool(x, kernel, stride, padding, 1, ceil_mode, reduce)


def global_avg_pool2d(x: np.ndarray) -> np.ndarray:
    """``N x C x H x W -> N x C x 1 x 1``: the mean of each feature map (GoogLeNet; lecture 004)."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=(2, 3), keepdims=True)


def local_response_norm(
    a: np.ndarray, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0
) -> np.ndarray:
    """AlexNet's local response normalization across channels, lecture 002's formula:

        b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N-1, i + n/2)} a[j]^2) ^ beta

    with ``n = size`` and ``n/2`` rounded down; the defaults are the paper's (Krizhevsky et al. 2012,
    section 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75).

    PyTorch's ``F.local_response_norm(x, size, alpha, beta, k)`` uses a different convention: it
    divides ``alpha`` by ``n`` (it averages the squares instead of summing them) and its window is
    ``i - n//2 .. i + (n-1)//2``. For odd ``n`` the two agree when PyTorch is given ``alpha * n``;
    for even ``n`` the lecture's window holds ``n + 1`` channels and PyTorch's ``n``.
    """
    a = np.asarray(a, dtype=np.float64)
    check_positive("LRN size", size)
    channels = a.shape[1]
    half = size // 2
    sq = a**2
    b = np.empty_like(a)
    for i in range(channels):
        lo, hi = max(0, i - half), min(channels - 1, i + half)
        b[:, i] = a[:, i] / (k + alpha * sq[:, lo : hi + 1].sum(axis=1)) ** beta
    return b


def batch_norm(
    x: np.ndarray,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalization over ``N, H, W`` per channel (lecture 001; Ioffe & Szegedy 2015).

    Training: ``y = gamma (x - mu_B) / sqrt(sigma_B^2 + eps) + beta`` with the batch's mean and biased
    variance (``1/|B|``, lecture 001's formula); the running statistics passed in are updated in
    place as PyTorch does: ``r = (1 - momentum) r + momentum * stat``, with the *unbiased* variance
    (``1/(|B|-1)``) for ``running_var``. Evaluation: the running statistics replace the batch's.
    """
    x = np.asarray(x, dtype=np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        count = x.size // x.shape[1]
        if count < 2:
            raise CnnlabError(
                "batch norm in training needs more than one value per channel",
                "use a batch of 2 or more, or evaluation mode",
            )
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * count / (count - 1)
    else:
        if running_mean is None or running_var is None:
            raise CnnlabError("batch norm in evaluation mode needs the running mean and variance")
        mean, var = np.asarray(running_mean, np.float64), np.asarray(running_var, np.float64)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        y = y * np.asarray(weight, np.float64).reshape(shape)
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(shape)
    return y
