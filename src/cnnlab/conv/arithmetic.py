"""The arithmetic of convolution and pooling: output sizes, padding, receptive fields, costs (pure Python).

Notation as in the lectures: input size ``n``, kernel ``k``, stride ``s``, padding ``p`` (per
side, or ``(before, after)``), dilation ``d``. The dilated kernel spans ``d(k-1)+1`` pixels and

    out = floor((n + p_before + p_after - d(k-1) - 1) / s) + 1       (ceil instead of floor in ceil mode)

which is lecture 004's ``(W - K + 2P)/S + 1`` and lecture 001's ``floor((n - k + p + s)/s)`` (with
``p`` the total padding there).

Receptive field of a chain of layers (lecture 004; Araujo et al. 2019, "Computing receptive fields
of convolutional neural networks"): with ``r`` the field, ``j`` the jump (distance in input
pixels between neighbouring outputs) and ``start`` the centre of the first output's field,

    r' = r + d(k-1) j        j' = j s        start' = start + ((d(k-1))/2 - p_before) j

so ``L`` stride-1 ``K x K`` layers see ``1 + L(K-1)`` pixels (lecture 004, "Receptive Field").

Costs count multiply-adds ("MACs", the lectures' "FLOPs"; FLOPs = 2 x MACs): a convolution does
``C_in/G x K_h x K_w`` multiply-adds per output element (lecture 004, "Computing the No. of Learnable
Parameters" and "Group Convolutions"); a pooling window of ``K x K`` is counted as ``K^2``
operations per output element, as lecture 004's AlexNet table does.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

Padding = int | tuple[int, int]
Size2 = int | tuple[int, int]

PADDING_MODES = ("valid", "same", "full")


def _error(message: str, hint: str | None = None):
    from ..errors import CnnlabError

    return CnnlabError(message, hint)


def _pair(p: Padding) -> tuple[int, int]:
    if isinstance(p, tuple | list):
        if len(p) != 2:
            raise _error(f"expected one number or a (before, after) pair, got {p!r}")
        return int(p[0]), int(p[1])
    return int(p), int(p)


_size2 = _pair


def check_positive(name: str, value: int, rule: str | None = None) -> int:
    """Refuse a zero or negative size, kernel, stride, dilation or channel count, naming the rule."""
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)
    except TypeError:
        if not (isinstance(value, float) and value.is_integer()):
            raise _error(f"{name} must be a whole number, got {value!r}") from None
    if value < 1:
        raise _error(f"{name} must be at least 1, got {value}", rule or f"a {name} counts pixels or steps: 1 or more")
    return int(value)


def check_padding(value: Padding) -> tuple[int, int]:
    before, after = _pair(value)
    for v in (before, after):
        if v < 0:
            raise _error(
                f"padding must be 0 or more on each side, got {value}",
                "padding adds rows/columns of zeros around the input; a negative count is not a padding",
            )
    return before, after


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Pixels spanned by a dilated kernel: d(k-1)+1."""
    return dilation * (kernel - 1) + 1


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    strict: bool = False,
) -> int:
    """Output length along one axis of a convolution or pooling window.

    In ceil mode (pooling), as in PyTorch, the last window must start inside the input or the
    left padding, so a window that would start in the right padding is dropped.

    ``strict=True`` refuses a stride that leaves input pixels over (lecture 000: "the stride 3 does
    not fit" a 3x3 filter on a 7x7 image), see :func:`check_stride_fits`.
    """
    check_positive("input size", size)
    check_positive("kernel size", kernel)
    check_positive("stride", stride, "the stride is the step between windows: 1 or more pixels")
    check_positive("dilation", dilation, "dilation 1 is an ordinary kernel; d spaces the taps d pixels apart")
    before, after = check_padding(padding)
    span = size + before + after - effective_kernel(kernel, dilation)
    if span < 0:
        raise _error(
            f"kernel {kernel} (dilation {dilation}, spanning {effective_kernel(kernel, dilation)}) "
            f"is larger than the padded input {size + before + after} ({size} + padding "
            f"{before}+{after})",
            "use a smaller kernel or more padding",
        )
    if strict:
        check_stride_fits(size, kernel, stride, (before, after), dilation)
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out


def tconv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1
) -> int:
    """Output length along one axis of a transposed convolution (lecture 002; PyTorch's ``ConvTranspose2d``).

    Every input pixel spreads a copy of the (dilated) kernel scaled by its value into the output,
    copies ``s`` apart, so before cropping the output spans ``(n - 1)s + d(k - 1) + 1`` pixels;
    padding ``p`` then removes ``p`` rows/columns from each side and ``output_padding`` adds rows at
    the end (bottom/right) back:

        out = (n - 1)s - 2p + d(k - 1) + output_padding + 1

    It inverts :func:`conv_output_size`: a convolution with the same ``k, s, p, d`` maps ``out`` back
    to ``n``. When several input sizes map to the same convolution output (``s > 1``),
    ``output_padding`` (``< max(s, d)``, PyTorch's rule) picks which one.
    """
    check_positive("input size", size)
    check_positive("kernel size", kernel)
    check_positive(
        "stride",
        stride,
        "the stride of a transposed convolution is the spacing of the kernel copies "
        "in the output: 1 or more pixels (1 is 'no stride')",
    )
    check_positive("dilation", dilation)
    padding = int(padding)
    if padding < 0:
        raise _error(
            f"padding must be 0 or more, got {padding}",
            "a transposed convolution's padding crops the output; it cannot be negative",
        )
    if not 0 <= int(output_padding) < max(stride, dilation):
        raise _error(
            f"output_padding {output_padding} must be 0 or more and smaller than the stride ({stride}) "
            f"or the dilation ({dilation})",
            "output_padding only chooses among the input sizes a strided convolution maps to one size",
        )
    full = (size - 1) * stride + effective_kernel(kernel, dilation) + int(output_padding)
    out = full - 2 * padding
    if out < 1:
        raise _error(
            f"padding {padding} crops the whole transposed-convolution output ({full} before cropping "
            f"= ({size} - 1)x{stride} + {effective_kernel(kernel, dilation)}"
            + (f" + {output_padding}" if output_padding else "")
            + f"; 2 x {padding} removed)",
            f"use padding of at most {(full - 1) // 2}",
        )
    return out


def check_stride_fits(size: int, kernel: int, stride: int, padding: Padding = 0, dilation: int = 1) -> None:
    """Raise unless the windows tile the padded input exactly: (n + p - d(k-1) - 1) divisible by s.

    Lecture 000 ("Spatial Dimension: Stride"): on a 7x7 image with a 3x3 filter, strides 1, 2 and 4
    fit ((7-3)/s + 1 = 5, 3, 2) but "the stride 3 does not fit for this case, and thus cannot be used".
    """
    before, after = check_padding(padding)
    k = effective_kernel(kernel, dilation)
    total = size + before + after
    span = total - k
    if span < 0:
        conv_output_size(size, kernel, stride, padding, dilation)  # raises the size error
    if span % stride:
        left = span % stride
        fits = [s for s in range(1, span + 1) if span % s == 0] if span else [1]
        raise _error(
            f"stride {stride} does not fit: (input {total} - kernel {k}) / stride {stride} = {span}/{stride} "
            f"is not a whole number, so the last {left} pixel(s) are never reached by a window "
            f"(output would be floor({span}/{stride}) + 1 = {span // stride + 1})",
            f"strides that fit: {', '.join(map(str, fits))}; or pad the input by {stride - left} pixel(s)",
        )


def padding_for(mode: str, kernel: int, dilation: int = 1, convention: str = "lecture") -> tuple[int, int]:
    """``(before, after)`` padding for the lectures' named padding modes.

    - ``valid``: no padding; the output shrinks to ``n - k + 1`` (lecture 003, 1.1.2).
    - ``same``: ``k - 1`` in total so that a stride-1 output keeps the input size (lecture 003;
      lecture 004 "P = (K-1)/2"). For an even kernel the total is odd; lecture 001 ("Padding") pads
      ``ceil(p/2)`` on top/left and ``floor(p/2)`` at the bottom/right (``convention="lecture"``).
      PyTorch's ``padding="same"`` and TensorFlow/ONNX ``SAME_UPPER`` put the extra pixel at the end
      instead (``convention="torch"``).
    - ``full``: ``k - 1`` on each side, so every overlap of kernel and input gives an output
      (``n + k - 1``). Lecture 003 describes it as "padding larger than k", which over-states it:
      any more padding only adds outputs that see nothing but zeros.
    """
    check_positive("kernel size", kernel)
    check_positive("dilation", dilation)
    total = effective_kernel(kernel, dilation) - 1
    mode = mode.lower()
    if mode == "valid":
        return 0, 0
    if mode == "full":
        return total, total
    if mode == "same":
        if convention == "lecture":
            return math.ceil(total / 2), total // 2
        if convention == "torch":
            return total // 2, math.ceil(total / 2)
        raise _error(f"unknown 'same' convention {convention!r}", "use 'lecture' (extra on top/left) or 'torch'")
    from ..errors import UnknownNameError

    raise UnknownNameError("padding mode", mode, PADDING_MODES)


def resolve_padding(padding, kernel: int, dilation: int = 1) -> tuple[int, int]:
    """An int, a ``(before, after)`` pair or a mode name -> ``(before, after)``."""
    if isinstance(padding, str):
        if padding.lstrip("-").isdigit():
            return check_padding(int(padding))
        return padding_for(padding, kernel, dilation)
    return check_padding(padding)


def receptive_field_step(
    rf: int, jump: int, start: float, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1
) -> tuple[int, int, float]:
    """(r, j, start) after one layer, from (r, j, start) before it. Start with (1, 1, 0.5)."""
    before, _ = _pair(padding)
    k = effective_kernel(kernel, dilation)
    return rf + (k - 1) * jump, jump * stride, start + ((k - 1) / 2 - before) * jump


@dataclass(frozen=True)
class FieldStep:
    """Receptive field ``rf``, jump and centre of the first output's field after a layer."""

    rf: int
    jump: int
    start: float


def receptive_field(layers, rf: int = 1, jump: int = 1, start: float = 0.5) -> list[FieldStep]:
    """Walk ``(kernel, stride, padding, dilation)`` tuples (shorter tuples take the defaults).

    ``receptive_field([(3,)] * L)[-1].rf == 1 + L * (3 - 1)`` (lecture 004, "Receptive Field").
    """
    out = []
    for layer in layers:
        kernel, stride, padding, dilation = (tuple(layer) + (1, 0, 1)[len(layer) - 1 :])[:4]
        rf, jump, start = receptive_field_step(rf, jump, start, kernel, stride, padding, dilation)
        out.append(FieldStep(rf, jump, start))
    return out


# ---------------------------------------------------------------- costs


@dataclass(frozen=True)
class Cost:
    """Parameters and multiply-adds of a layer or block (``parts`` names the pieces)."""

    params: int
    macs: int
    parts: dict = field(default_factory=dict, compare=False)

    @property
    def flops(self) -> int:
        """FLOPs = 2 x MACs (a multiply and an add)."""
        return 2 * self.macs

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs, {**self.parts, **other.parts})


def conv_params(c_in: int, c_out: int, kernel: Size2, groups: int = 1, bias: bool = True) -> int:
    """``C_out x C_in/G x K_h x K_w (+ C_out)`` (lecture 004, "Convolution Summary", "Group Convolutions")."""
    kh, kw = _size2(kernel)
    check_groups(c_in, c_out, groups)
    return c_out * (c_in // groups) * kh * kw + (c_out if bias else 0)


def conv_mac_count(elements: int, channels_per_group: int, kernel: Sequence[int]) -> int:
    """The one multiply-add formula of a convolution, for any number of spatial dimensions: each of
    ``elements`` output elements is a dot product of ``C_in/G x K_1 x ... x K_n`` terms (lecture 004,
    "Convolution Summary"). A transposed convolution is the same count seen from its input: each input
    element scatters into ``C_out/G x K_1 x ... x K_n`` outputs. :func:`conv_macs` and the analyzer's
    operator formulas (``cnnlab.analysis.formulas``) both call it."""
    return elements * channels_per_group * math.prod(kernel)


def conv_macs(c_in: int, c_out: int, kernel: Size2, out_h: int, out_w: int | None = None, groups: int = 1) -> int:
    """``C_out x H' x W' x (C_in/G x K_h x K_w)``: output elements x operations per element.

    Lecture 004 prints the grouped count as ``C_out x C_in x K^2 x H x W``; the group convolution does
    ``1/G`` of that (each of the G convolutions sees ``C_in/G`` channels).
    """
    kh, kw = _size2(kernel)
    check_groups(c_in, c_out, groups)
    out_w = out_h if out_w is None else out_w
    return conv_mac_count(c_out * out_h * out_w, c_in // groups, (kh, kw))


def check_groups(c_in: int, c_out: int, groups: int) -> None:
    check_positive("input channels", c_in)
    check_positive("output channels", c_out)
    check_positive("groups", groups)
    if c_in % groups or c_out % groups:
        raise _error(
            f"groups={groups} must divide both the input channels ({c_in}) and the output channels ({c_out})",
            "each group sees C_in/G channels and makes C_out/G of them",
        )


def conv_cost(
    c_in: int,
    c_out: int,
    kernel: Size2,
    out_h: int,
    out_w: int | None = None,
    groups: int = 1,
    bias: bool = True,
    name: str = "conv",
) -> Cost:
    params = conv_params(c_in, c_out, kernel, groups, bias)
    macs = conv_macs(c_in, c_out, kernel, out_h, out_w, groups)
    return Cost(params, macs, {name: (params, macs)})


def depthwise_cost(
    channels: int, kernel: Size2, out_h: int, out_w: int | None = None, multiplier: int = 1, bias: bool = True
) -> Cost:
    """Depthwise convolution: ``G = C_in``, ``C_out = n C_in`` (lecture 004, "Depthwise Convolutions")."""
    return conv_cost(
        channels, channels * multiplier, kernel, out_h, out_w, groups=channels, bias=bias, name="depthwise"
    )


def pointwise_cost(c_in: int, c_out: int, out_h: int, out_w: int | None = None, bias: bool = True) -> Cost:
    """1x1 convolution: a dense layer applied at every pixel (lecture 001, "1x1 Convolutional Layer")."""
    return conv_cost(c_in, c_out, 1, out_h, out_w, bias=bias, name="pointwise")


def separable_cost(
    c_in: int, c_out: int, kernel: Size2, out_h: int, out_w: int | None = None, bias: bool = False
) -> Cost:
    """Depthwise ``K x K`` then pointwise 1x1 (MobileNet v1; lecture 004, "MobileNets").

    With ``K = 3`` and ``C_in = C_out = C`` the cost is ``(9C + C^2)HW`` against ``9C^2HW`` for the
    standard convolution: a speed-up ``9C/(9 + C)`` that tends to 9 as C grows.
    """
    return depthwise_cost(c_in, kernel, out_h, out_w, bias=bias) + pointwise_cost(c_in, c_out, out_h, out_w, bias)


def basic_block_cost(channels: int, out_h: int, out_w: int | None = None, bias: bool = False) -> Cost:
    """ResNet basic block, two ``3x3, C -> C`` convolutions: ``18HWC^2`` MACs (lecture 004)."""
    a = conv_cost(channels, channels, 3, out_h, out_w, bias=bias, name="conv3x3_a")
    b = conv_cost(channels, channels, 3, out_h, out_w, bias=bias, name="conv3x3_b")
    return a + b


def bottleneck_cost(
    channels: int,
    out_h: int,
    out_w: int | None = None,
    expansion: int = 4,
    groups: int = 1,
    width: int | None = None,
    bias: bool = False,
) -> Cost:
    """ResNet bottleneck on ``4C`` channels: 1x1 ``4C -> C``, 3x3 ``C -> C``, 1x1 ``C -> 4C``.

    ``4HWC^2 + 9HWC^2 + 4HWC^2 = 17HWC^2`` MACs (lecture 004, "Bottleneck Block"). ``width`` and
    ``groups`` give ResNeXt's block: ``G`` groups of width ``c`` in the middle, ``width = G c``.
    """
    outer = channels * expansion
    mid = channels if width is None else width
    return (
        conv_cost(outer, mid, 1, out_h, out_w, bias=bias, name="reduce1x1")
        + conv_cost(mid, mid, 3, out_h, out_w, groups=groups, bias=bias, name="conv3x3")
        + conv_cost(mid, outer, 1, out_h, out_w, bias=bias, name="expand1x1")
    )


def inception_cost(
    c_in: int,
    out_h: int,
    c1: int,
    c3_reduce: int,
    c3: int,
    c5_reduce: int,
    c5: int,
    pool_proj: int,
    out_w: int | None = None,
    bias: bool = False,
) -> Cost:
    """GoogLeNet inception module with dimension reductions (Szegedy et al. 2014, Table 1, Figure 2b).

    Branches: 1x1 ``c1``; 1x1 ``c3_reduce`` -> 3x3 ``c3``; 1x1 ``c5_reduce`` -> 5x5 ``c5``;
    3x3 max-pool -> 1x1 ``pool_proj``. The pooling is counted as free (no parameters, no MACs).
    """
    return (
        conv_cost(c_in, c1, 1, out_h, out_w, bias=bias, name="1x1")
        + conv_cost(c_in, c3_reduce, 1, out_h, out_w, bias=bias, name="3x3_reduce")
        + conv_cost(c3_reduce, c3, 3, out_h, out_w, bias=bias, name="3x3")
        + conv_cost(c_in, c5_reduce, 1, out_h, out_w, bias=bias, name="5x5_reduce")
        + conv_cost(c5_reduce, c5, 5, out_h, out_w, bias=bias, name="5x5")
        + conv_cost(c_in, pool_proj, 1, out_h, out_w, bias=bias, name="pool_proj")
    )


def inception_naive_cost(
    c_in: int, out_h: int, c1: int, c3: int, c5: int, out_w: int | None = None, bias: bool = False
) -> Cost:
    """The naive inception module (Szegedy et al. 2014, Fig. 2a): 1x1, 3x3 and 5x5 convolutions on the full
    input and a 3x3 max pool that passes its ``c_in`` channels on (``c1 + c3 + c5 + c_in`` outputs).
    Without the 1x1 reductions of Fig. 2b the 3x3 and 5x5 convolutions see all ``c_in`` channels."""
    return (
        conv_cost(c_in, c1, 1, out_h, out_w, bias=bias, name="1x1")
        + conv_cost(c_in, c3, 3, out_h, out_w, bias=bias, name="3x3")
        + conv_cost(c_in, c5, 5, out_h, out_w, bias=bias, name="5x5")
    )


def linear_cost(c_in: int, c_out: int, bias: bool = True) -> Cost:
    """Fully connected: ``C_in x C_out (+ C_out)`` parameters, ``C_in x C_out`` MACs (lecture 004, fc6)."""
    check_positive("input features", c_in)
    check_positive("output features", c_out)
    params = c_in * c_out + (c_out if bias else 0)
    return Cost(params, c_in * c_out, {"fc": (params, c_in * c_out)})


def pool_macs(channels: int, out_h: int, out_w: int | None, kernel: Size2) -> int:
    """Operations of a pooling layer counted as lecture 004 does: output elements x ``K_h K_w``."""
    kh, kw = _size2(kernel)
    return channels * out_h * (out_h if out_w is None else out_w) * kh * kw


def activation_kb(elements: int, bytes_per_element: int = 4) -> float:
    """Memory of an activation in KB: elements x bytes / 1024 (lecture 004, AlexNet table)."""
    return elements * bytes_per_element / 1024
