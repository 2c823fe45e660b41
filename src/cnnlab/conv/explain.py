"""Step-by-step explanations of a small convolution or pooling, and of a stack of layers' shapes.

The explanation is data first (dataclasses with a ``to_dict()``), rendered to text the way the
slides write it::

    output size: (3 - 2 + 0 + 0)/1 + 1 = 2            (lecture 004, "Output: (W - K + 2P)/S + 1")
    out[0, 0] = 0x0 + 1x1 + 3x2 + 4x3 = 19           (lecture 001, "2-D Cross Correlation")

Multi-channel inputs show one bracketed sum per input channel and the total (lecture 001, "Multiple
Input Channels": ``(1x1 + 2x2 + 4x3 + 5x4) + (0x0 + 1x1 + 3x2 + 4x3) = 56``).
:func:`explain_shape` walks a layer stack written like ``"conv 11 s4 p2 96; pool 3 s2; fc 4096"``
through output size, parameters, multiply-adds, activation memory and receptive field per layer,
as lecture 004's AlexNet table does.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import CnnlabError
from . import arithmetic as ar
from .matrices import format_matrix, format_number
from .reference import pad2d, padding4

# ------------------------------------------------------------------ output-size formula


@dataclass
class SizeFormula:
    """One axis of ``floor((n + p_before + p_after - d(k-1) - 1)/s) + 1``, with the numbers put in."""

    axis: str
    size: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    ceil_mode: bool
    out: int

    @property
    def text(self) -> str:
        k = ar.effective_kernel(self.kernel, self.dilation)
        kern = str(k) if self.dilation == 1 else f"{k} (= {self.dilation}x({self.kernel}-1)+1)"
        pad = (
            f" + 2x{self.pad_before}"
            if self.pad_before == self.pad_after
            else f" + {self.pad_before} + {self.pad_after}"
        )
        num = self.size + self.pad_before + self.pad_after - k
        expr = f"({self.size} - {kern}{pad})/{self.stride} + 1"
        exact = num / self.stride + 1
        if num % self.stride == 0:
            return f"{expr} = {self.out}"
        rounding = "ceil" if self.ceil_mode else "floor"
        note = (
            ""
            if self.out == (math.ceil(num / self.stride) if self.ceil_mode else num // self.stride) + 1
            else " (the last window would start in the padding: dropped)"
        )
        return f"{expr} = {exact:g} -> {rounding} -> {self.out}{note}"


def size_formula(
    axis: str,
    size: int,
    kernel: int,
    stride: int,
    pad: tuple[int, int],
    dilation: int = 1,
    ceil_mode: bool = False,
    strict: bool = False,
) -> SizeFormula:
    out = ar.conv_output_size(size, kernel, stride, pad, dilation, ceil_mode, strict=strict)
    return SizeFormula(axis, size, kernel, stride, pad[0], pad[1], dilation, ceil_mode, out)


# ------------------------------------------------------------------ convolution


def _check_fits(hw, kernel, pad, dilation, what: str) -> None:
    """A window larger than the padded input: name both sizes."""
    ph, pw = hw[0] + pad[0] + pad[1], hw[1] + pad[2] + pad[3]
    kh, kw = ar.effective_kernel(kernel[0], dilation[0]), ar.effective_kernel(kernel[1], dilation[1])
    if kh > ph or kw > pw:
        dil = f" (dilated to {kh}x{kw})" if dilation != (1, 1) else ""
        padded = f"padded input {ph}x{pw} ({hw[0]}x{hw[1]} + padding)" if any(pad) else f"input {ph}x{pw}"
        raise CnnlabError(
            f"the {kernel[0]}x{kernel[1]} {what}{dil} is larger than the {padded}",
            "use a smaller kernel, a larger input, or more padding",
        )


def _mul(x: float, w: float) -> str:
    a, b = format_number(x), format_number(w)
    return f"{'(' + a + ')' if x < 0 else a}x{'(' + b + ')' if w < 0 else b}"


@dataclass
class ChannelSum:
    """The products of one input channel's window with its kernel slice."""

    channel: int
    window: list[list[float]]
    kernel: list[list[float]]
    value: float

    @property
    def terms(self) -> list[tuple[float, float]]:
        return [(x, w) for xr, wr in zip(self.window, self.kernel, strict=True) for x, w in zip(xr, wr, strict=True)]

    @property
    def text(self) -> str:
        return " + ".join(_mul(x, w) for x, w in self.terms)


@dataclass
class ConvStep:
    """One output element: where its window lies in the padded input and the sums that make it."""

    out_channel: int
    row: int
    col: int
    rows: list[int]
    cols: list[int]
    channels: list[ChannelSum]
    bias: float
    value: float

    @property
    def equation(self) -> str:
        bias = f" + {format_number(self.bias)}" if self.bias else ""
        if len(self.channels) == 1:
            return f"{self.channels[0].text}{bias} = {format_number(self.value)}"
        sums = " + ".join(f"({c.text})" for c in self.channels)
        partial = " + ".join(format_number(c.value) for c in self.channels)
        return f"{sums}{bias} = {partial}{bias} = {format_number(self.value)}"


@dataclass
class ConvExplanation:
    input: np.ndarray  # C x H x W
    kernel: np.ndarray  # C_out x C x K_h x K_w
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    dilation: tuple[int, int]
    padded: np.ndarray  # C x H_p x W_p
    sizes: list[SizeFormula]
    output: np.ndarray  # C_out x H' x W'
    steps: list[ConvStep] = field(default_factory=list)
    groups: int = 1

    def to_dict(self) -> dict:
        return {
            "input": self.input.tolist(),
            "kernel": self.kernel.tolist(),
            "bias": None if self.bias is None else self.bias.tolist(),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dilation": list(self.dilation),
            "padded": self.padded.tolist(),
            "sizes": [{**asdict(s), "text": s.text} for s in self.sizes],
            "output": self.output.tolist(),
            "steps": [
                {
                    "out_channel": s.out_channel,
                    "row": s.row,
                    "col": s.col,
                    "rows": s.rows,
                    "cols": s.cols,
                    "channel_sums": [c.value for c in s.channels],
                    "bias": s.bias,
                    "value": s.value,
                    "equation": s.equation,
                }
                for s in self.steps
            ],
        }


def _as_chw(x: np.ndarray, label: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return x
    raise CnnlabError(f"{label} must be a matrix (H x W) or channels of matrices (C x H x W), got {x.ndim} dimensions")


def _as_kernel(k: np.ndarray, c_in: int) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64)
    if k.ndim == 2:
        k = k[None, None]
        if c_in > 1:  # one 2-D kernel for a multi-channel input: used on every channel, as in filters
            k = np.repeat(k, c_in, axis=1)
    elif k.ndim == 3:
        k = k[None]
    elif k.ndim != 4:
        raise CnnlabError(f"kernel must have 2 to 4 dimensions, got {k.ndim}")
    if k.shape[1] != c_in:
        raise CnnlabError(
            f"the kernel has {k.shape[1]} channel(s) but the input has {c_in}",
            "give one kernel slice per input channel, separated by '|'",
        )
    return k


def explain_conv(
    x, kernel, bias=None, stride=1, padding=0, dilation=1, strict: bool = False, groups: int = 1
) -> ConvExplanation:
    """Every output element of a (multi-channel) cross-correlation with its window and sum of products.

    ``x``: ``H x W`` or ``C x H x W``; ``kernel``: ``K_h x K_w``, ``C x K_h x K_w`` or
    ``C_out x C/G x K_h x K_w``; ``bias``: one number per output channel. ``groups = G``: output
    channel ``o`` sums only the ``C/G`` input channels of its group (``G = C``: depthwise, lecture 004
    "Depthwise Convolutions"; a 2-D kernel is then used on every channel on its own).
    """
    x = _as_chw(x, "input")
    ar.check_positive("groups", groups)
    if x.shape[0] % groups:
        raise CnnlabError(
            f"groups={groups} must divide the input channels ({x.shape[0]})", "each group sees C_in/G channels"
        )
    k = np.asarray(kernel, dtype=np.float64)
    if groups > 1 and k.ndim == 2:  # one shared 2-D kernel: one output per group
        k = np.broadcast_to(k, (groups, x.shape[0] // groups, *k.shape)).copy()
    elif groups > 1 and k.ndim == 3 and x.shape[0] == groups:  # depthwise, one K x K slice per output channel
        k = k[:, None]
    k = _as_kernel(k, x.shape[0] // groups)
    c_out, c_in_g, kh, kw = k.shape
    ar.check_groups(x.shape[0], c_out, groups)
    b = None if bias is None else np.broadcast_to(np.asarray(bias, np.float64).reshape(-1), (c_out,)).copy()
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else tuple(dilation)
    pad = padding4(padding, (kh, kw), (dh, dw))
    _check_fits(x.shape[1:], (kh, kw), pad, (dh, dw), "kernel")
    sizes = [
        size_formula("height", x.shape[1], kh, sh, pad[:2], dh, strict=strict),
        size_formula("width", x.shape[2], kw, sw, pad[2:], dw, strict=strict),
    ]
    padded = pad2d(x, pad)
    oh, ow = sizes[0].out, sizes[1].out
    out = np.zeros((c_out, oh, ow))
    steps = []
    for o in range(c_out):
        for i in range(oh):
            for j in range(ow):
                rows = [i * sh + a * dh for a in range(kh)]
                cols = [j * sw + c * dw for c in range(kw)]
                sums = []
                g = o // (c_out // groups)
                for kc, c in enumerate(range(g * c_in_g, (g + 1) * c_in_g)):
                    win = padded[c][np.ix_(rows, cols)]
                    sums.append(ChannelSum(c, win.tolist(), k[o, kc].tolist(), float((win * k[o, kc]).sum())))
                bias_v = 0.0 if b is None else float(b[o])
                value = sum(s.value for s in sums) + bias_v
                out[o, i, j] = value
                steps.append(ConvStep(o, i, j, rows, cols, sums, bias_v, value))
    return ConvExplanation(x, k, b, (sh, sw), pad, (dh, dw), padded, sizes, out, steps, groups)


def _side_by_side(blocks: list[tuple[str, list[str]]], gap: int = 4) -> list[str]:
    widths = [max([len(t)] + [len(line) for line in lines]) for t, lines in blocks]
    height = max(len(lines) for _, lines in blocks)
    out = ["".join(t.ljust(w + gap) for (t, _), w in zip(blocks, widths, strict=True)).rstrip()]
    for r in range(height):
        out.append(
            "".join(
                (lines[r] if r < len(lines) else "").ljust(w + gap)
                for (_, lines), w in zip(blocks, widths, strict=True)
            ).rstrip()
        )
    return out


def _pad_text(pad) -> str:
    top, bottom, left, right = pad
    if top == bottom == left == right:
        return str(top)
    return f"top {top}, bottom {bottom}, left {left}, right {right}"


def _pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]} (rows) x {v[1]} (columns)"


def _kind_notes(e: ConvExplanation) -> list[str]:
    """What a 1x1 or grouped/depthwise convolution is, and its cost against the dense K x K one."""
    c_in, h, w = e.input.shape
    c_out, c_in_g, kh, kw = e.kernel.shape
    oh, ow = e.output.shape[1:]
    notes = []
    if (kh, kw) == (1, 1):
        notes.append(
            "a 1x1 convolution is a fully connected layer applied at every pixel: out[:, i, j] = "
            "W x[:, i, j] with W the C_out x C_in matrix (lecture 004, \"1x1 Convolutions\")"
        )
    if e.groups > 1:
        dense = ar.conv_macs(c_in, c_out, (kh, kw), oh, ow)
        mine = ar.conv_macs(c_in, c_out, (kh, kw), oh, ow, e.groups)
        notes.append(
            f"each output channel sums the {c_in_g} input channel(s) of its group: {mine:,} multiply-adds "
            f"= C_out x H' x W' x C_in/G x K^2 = {c_out} x {oh} x {ow} x {c_in_g} x {kh * kw}, 1/{e.groups} "
            f"of the dense convolution's {dense:,}"
        )
    return notes


def render_conv(e: ConvExplanation, max_steps: int | None = 64) -> str:
    c_in, h, w = e.input.shape
    c_out, c_in_g, kh, kw = e.kernel.shape
    shape = f"{h}x{w}" if c_in == 1 else f"{c_in}x{h}x{w}"
    lines = [
        f"cross-correlation of a {shape} input with {c_out} kernel(s) of {c_in_g}x{kh}x{kw}"
        if c_in > 1 or c_out > 1
        else f"cross-correlation of a {shape} input with a {kh}x{kw} kernel",
        f"padding {_pad_text(e.padding)}, stride {_pair_text(e.stride)}, dilation {_pair_text(e.dilation)}"
        + (f", groups {e.groups}" + (" (depthwise)" if e.groups == c_in else "") if e.groups > 1 else ""),
    ]
    lines += _kind_notes(e)
    lines += ["", "output size = (W - K + 2P)/S + 1, rounded down (K = d(k-1)+1 for dilation d)"]
    for s in e.sizes:
        lines.append(f"  {s.axis + ':':<8}{s.text}")
    lines.append("")
    blocks = []
    for c in range(c_in):
        label = "input" if c_in == 1 else f"input channel {c}"
        if any(e.padding):
            label += " (zero-padded)"
        blocks.append((label, format_matrix(e.padded[c])))
    for o in range(c_out):
        for kc in range(c_in_g):
            c = o // (c_out // e.groups) * c_in_g + kc
            label = (
                "kernel"
                if c_in == 1 and c_out == 1
                else (f"kernel channel {c}" if c_out == 1 else f"kernel {o} channel {c}")
            )
            blocks.append((label, format_matrix(e.kernel[o, kc])))
    lines += _side_by_side(blocks) + [""]
    shown = e.steps if max_steps is None else e.steps[:max_steps]
    for s in shown:
        idx = f"out[{s.row}, {s.col}]" if c_out == 1 else f"out[{s.out_channel}, {s.row}, {s.col}]"
        lines.append(f"{idx} = {s.equation}")
    if len(shown) < len(e.steps):
        lines.append(f"... {len(e.steps) - len(shown)} more output element(s) (use --max-steps 0 to show all)")
    lines.append("")
    lines += _side_by_side(
        [("output" if c_out == 1 else f"output channel {o}", format_matrix(e.output[o])) for o in range(c_out)]
    )
    return "\n".join(lines)


# ------------------------------------------------------------------ pooling


@dataclass
class PoolStep:
    channel: int
    row: int
    col: int
    values: list[float]
    divisor: int
    value: float
    mode: str

    @property
    def equation(self) -> str:
        vals = ", ".join(format_number(v) for v in self.values)
        if self.mode == "max":
            return f"max({vals}) = {format_number(self.value)}"
        return f"({' + '.join(format_number(v) for v in self.values)}) / {self.divisor} = {format_number(self.value)}"


@dataclass
class PoolExplanation:
    input: np.ndarray
    mode: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    ceil_mode: bool
    sizes: list[SizeFormula]
    output: np.ndarray
    steps: list[PoolStep]

    def to_dict(self) -> dict:
        return {
            "input": self.input.tolist(),
            "mode": self.mode,
            "kernel": list(self.kernel),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "ceil_mode": self.ceil_mode,
            "sizes": [{**asdict(s), "text": s.text} for s in self.sizes],
            "output": self.output.tolist(),
            "steps": [{**asdict(s), "equation": s.equation} for s in self.steps],
        }


def explain_pool(
    x, kernel=2, stride=None, padding=0, mode: str = "max", ceil_mode: bool = False, strict: bool = False
) -> PoolExplanation:
    """Every output of a max or average pooling with its window (lecture 001, "2-D Max Pooling").

    Max pooling never picks the padding; average pooling counts padded zeros in the divisor, as
    PyTorch's default (``count_include_pad=True``) does.
    """
    if mode not in ("max", "avg"):
        from ..errors import UnknownNameError

        raise UnknownNameError("pooling mode", mode, ["max", "avg"])
    x = _as_chw(x, "input")
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    stride = (kh, kw) if stride is None else stride
    sh, sw = (stride, stride) if isinstance(stride, int) else tuple(stride)
    pad = padding4(padding, (kh, kw))
    for p, k in ((pad[0], kh), (pad[1], kh), (pad[2], kw), (pad[3], kw)):
        if p > k // 2:
            raise CnnlabError(
                f"pooling padding {p} is more than half the window {k}",
                "a window would see only padding; use padding <= kernel/2 (PyTorch's rule)",
            )
    _check_fits(x.shape[1:], (kh, kw), pad, (1, 1), "pooling window")
    sizes = [
        size_formula("height", x.shape[1], kh, sh, pad[:2], 1, ceil_mode, strict),
        size_formula("width", x.shape[2], kw, sw, pad[2:], 1, ceil_mode, strict),
    ]
    c, h, w = x.shape
    oh, ow = sizes[0].out, sizes[1].out
    out = np.zeros((c, oh, ow))
    steps = []
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                r0, c0 = i * sh - pad[0], j * sw - pad[2]
                r1, c1 = min(r0 + kh, h + pad[1]), min(c0 + kw, w + pad[3])
                vals = []
                for r in range(r0, r1):
                    for cc in range(c0, c1):
                        inside = 0 <= r < h and 0 <= cc < w
                        if inside or mode == "avg":
                            vals.append(float(x[ch, r, cc]) if inside else 0.0)
                divisor = (r1 - r0) * (c1 - c0)
                value = max(vals) if mode == "max" else sum(vals) / divisor
                out[ch, i, j] = value
                steps.append(PoolStep(ch, i, j, vals, divisor, value, mode))
    return PoolExplanation(x, mode, (kh, kw), (sh, sw), pad, ceil_mode, sizes, out, steps)


def render_pool(e: PoolExplanation, max_steps: int | None = 64) -> str:
    c, h, w = e.input.shape
    name = "max" if e.mode == "max" else "average"
    lines = [
        f"{name} pooling of a {'x'.join(map(str, (h, w) if c == 1 else (c, h, w)))} input, window "
        f"{e.kernel[0]}x{e.kernel[1]}, stride {_pair_text(e.stride)}, padding {_pad_text(e.padding)}"
        + (", ceil mode" if e.ceil_mode else ""),
        "",
        "output size = (W - K + 2P)/S + 1, rounded " + ("up (ceil mode)" if e.ceil_mode else "down"),
    ]
    for s in e.sizes:
        lines.append(f"  {s.axis + ':':<8}{s.text}")
    lines += (
        [""]
        + _side_by_side([("input" if c == 1 else f"input channel {i}", format_matrix(e.input[i])) for i in range(c)])
        + [""]
    )
    shown = e.steps if max_steps is None else e.steps[:max_steps]
    for s in shown:
        idx = f"out[{s.row}, {s.col}]" if c == 1 else f"out[{s.channel}, {s.row}, {s.col}]"
        lines.append(f"{idx} = {s.equation}")
    if len(shown) < len(e.steps):
        lines.append(f"... {len(e.steps) - len(shown)} more output element(s) (use --max-steps 0 to show all)")
    lines += [""] + _side_by_side(
        [("output" if c == 1 else f"output channel {i}", format_matrix(e.output[i])) for i in range(c)]
    )
    if e.output.shape[1:] == (1, 1) and e.kernel == (h, w):
        lines.append(
            f"global {name} pooling: one number per channel, whatever the input size (lecture 004, "
            f"GoogLeNet's head: {c}x{h}x{w} -> {c}, no parameters where a fully connected layer would "
            f"need {c * h * w:,} per output)"
        )
    elif e.kernel == (1, 1):
        lines.append(f"a 1x1 window compares nothing: with stride {_pair_text(e.stride)} it only subsamples")
    lines.append("no learnable parameters; each channel is pooled on its own (#output channels = #input channels)")
    return "\n".join(lines)


# ------------------------------------------------------------------ layer stacks

SHAPE_SYNTAX = """layer stack syntax: layers separated by ';', each one of
  conv K [sS] [pP | same | valid | full] [dD] [gG | dw] [nobias] C_OUT    e.g. conv 11 s4 p2 96
      K may be KHxKW (conv 1x7 p0,3 192); pP may be PH,PW or TOP,BOTTOM,LEFT,RIGHT; dw = depthwise
      (groups = input channels; C_OUT defaults to the input channels)
  tconv K [sS] [pP] [opN] [dD] C_OUT     transposed convolution (alias deconv)   e.g. tconv 4 s2 p1 64
      output (n - 1)S - 2P + D(K - 1) + N + 1; MACs = input elements x C_OUT x K_h x K_w
  pool K [sS] [pP] [ceil] [max | avg]     (stride defaults to K)            e.g. pool 3 s2
  gap                                     global average pooling to 1x1
  fc N                                    fully connected (flattens first)  e.g. fc 4096
  flatten | relu | lrn | dropout | bn     bn has 2C parameters; the others none
MACs: conv = C_out x H' x W' x C_in/G x K_h x K_w; fc = in x out; pooling = outputs x K_h x K_w
(lecture 004's convention); memory = output elements x 4 bytes / 1024."""


@dataclass
class LayerRow:
    name: str
    kind: str
    text: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int, int, int] | None = None
    dilation: tuple[int, int] | None = None
    groups: int = 1
    formulas: list[SizeFormula] = field(default_factory=list)
    params: int = 0
    macs: int = 0
    rf: int | None = None
    jump: int | None = None
    start: float | None = None

    @property
    def memory_kb(self) -> float:
        return ar.activation_kb(math.prod(self.out_shape))

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "formulas"}
        d["formulas"] = [f.text for f in self.formulas]
        d["memory_kb"] = self.memory_kb
        return d


@dataclass
class ShapeExplanation:
    input_shape: tuple[int, ...]
    rows: list[LayerRow]

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def memory_kb(self) -> float:
        return sum(r.memory_kb for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "layers": [r.to_dict() for r in self.rows],
            "total_params": self.params,
            "total_macs": self.macs,
            "total_flops": 2 * self.macs,
            "total_memory_kb": self.memory_kb,
        }


_INT = re.compile(r"^\d+$")


def _ints(text: str, what: str, layer: str, counts: tuple[int, ...]) -> tuple[int, ...]:
    parts = text.split(",")
    try:
        vals = tuple(int(p) for p in parts)
    except ValueError:
        raise CnnlabError(f"layer {layer!r}: {what} {text!r} is not a whole number", SHAPE_SYNTAX) from None
    if len(vals) not in counts:
        raise CnnlabError(
            f"layer {layer!r}: {what} takes {' or '.join(map(str, counts))} number(s), got {text!r}", SHAPE_SYNTAX
        )
    return vals


def _kernel(tok: str, layer: str) -> tuple[int, int]:
    if "x" in tok:
        a, _, b = tok.partition("x")
        if _INT.match(a) and _INT.match(b):
            return int(a), int(b)
        raise CnnlabError(f"layer {layer!r}: kernel {tok!r} is not K or KHxKW", SHAPE_SYNTAX)
    return int(tok), int(tok)


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"3x227x227"``, ``"3x227"`` (square) or ``"227"`` (3 channels) -> (C, H, W)."""
    parts = re.split(r"[x,\s]+", text.strip().lower())
    try:
        vals = [int(p) for p in parts if p]
    except ValueError:
        raise CnnlabError(f"input shape {text!r} is not CxHxW", "write e.g. 3x227x227") from None
    if len(vals) == 1:
        vals = [3, vals[0], vals[0]]
    elif len(vals) == 2:
        vals = [vals[0], vals[1], vals[1]]
    elif len(vals) != 3:
        raise CnnlabError(f"input shape {text!r} is not CxHxW", "write e.g. 3x227x227")
    for name, v in zip(("channels", "height", "width"), vals, strict=True):
        ar.check_positive(f"input {name}", v)
    return tuple(vals)


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a stack as written (``text``), its canonical ``kind`` and its argument tokens."""

    text: str
    kind: str
    args: tuple[str, ...]


# other spellings of a kind: maxpool/avgpool also say the pooling mode
_ALIASES = {
    "maxpool": ("pool", ("max",)),
    "avgpool": ("pool", ("avg",)),
    "linear": ("fc", ()),
    "dense": ("fc", ()),
    "deconv": ("tconv", ()),
}
# the names suggested for an unknown kind
_SUGGESTED = [
    "conv",
    "tconv",
    "deconv",
    "pool",
    "maxpool",
    "avgpool",
    "gap",
    "fc",
    "flatten",
    "relu",
    "lrn",
    "dropout",
    "bn",
]


def parse_layer(text: str) -> LayerSpec:
    """``"maxpool 3 s2"`` -> ``LayerSpec(text, "pool", ("3", "s2", "max"))``; an unknown kind is an error
    naming the closest one."""
    kind, *args = text.lower().split()
    kind, extra = _ALIASES.get(kind, (kind, ()))
    if kind not in ROW_BUILDERS:
        from ..errors import closest

        close = closest(text.lower().split()[0], _SUGGESTED)
        raise CnnlabError(
            f"unknown layer {text.lower().split()[0]!r} in {text!r}" + (f"; did you mean {close[0]}?" if close else ""),
            SHAPE_SYNTAX,
        )
    return LayerSpec(text, kind, (*args, *extra))


@dataclass
class _Walk:
    """The state :func:`explain_shape` carries from layer to layer. The receptive field is followed
    until a layer it does not describe (transposed conv, global pooling, fully connected)."""

    shape: tuple[int, ...]
    strict: bool
    rows: list[LayerRow] = field(default_factory=list)
    number: int = 0  # of the last conv / tconv / fc layer: rows are named after it
    rf: int | None = 1
    jump: int | None = 1
    start: float | None = 0.5

    def image(self, layer: LayerSpec, message: str, hint: str) -> tuple[int, int, int]:
        if len(self.shape) != 3:
            raise CnnlabError(message.format(text=layer.text, flat=self.shape[0]), hint)
        return self.shape

    def add(self, row: LayerRow, keeps_rf: bool = True) -> None:
        if not keeps_rf:
            self.rf = self.jump = self.start = None
        self.rows.append(row)
        self.shape = row.out_shape


def explain_shape(spec: str | list[str], input_shape=(3, 224, 224), strict: bool = False) -> ShapeExplanation:
    """Walk a layer stack (see ``SHAPE_SYNTAX``) from ``input_shape`` = (C, H, W): each layer is read by
    :func:`parse_layer` and turned into a row by its kind's builder in ``ROW_BUILDERS``."""
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape)
    layers = [s.strip() for s in (spec.split(";") if isinstance(spec, str) else spec) if s.strip()]
    if not layers:
        raise CnnlabError("the layer stack is empty", SHAPE_SYNTAX)
    walk = _Walk(tuple(int(v) for v in input_shape), strict)
    for text in layers:
        layer = parse_layer(text)
        ROW_BUILDERS[layer.kind](layer, walk)
    return ShapeExplanation(tuple(int(v) for v in input_shape), walk.rows)


@dataclass
class _WindowOptions:
    """The tokens of a conv or pool layer after its kernel size."""

    stride: tuple[int, ...] | None = None
    pad: tuple[int, ...] | int | str = 0
    dilation: int = 1
    groups: int = 1
    c_out: int | None = None
    bias: bool = True
    ceil: bool = False
    mode: str = "max"
    depthwise: bool = False


def _window_options(layer: LayerSpec) -> _WindowOptions:
    o, conv, text = _WindowOptions(), layer.kind == "conv", layer.text
    for tok in layer.args[1:]:
        if tok.startswith("s") and tok[1:2].isdigit():
            o.stride = _ints(tok[1:], "stride", text, (1, 2))
        elif tok.startswith("p") and tok[1:2].isdigit():
            o.pad = _ints(tok[1:], "padding", text, (1, 2, 4))
        elif tok in ar.PADDING_MODES:
            o.pad = tok
        elif tok.startswith("d") and tok[1:2].isdigit() and conv:
            o.dilation = _ints(tok[1:], "dilation", text, (1,))[0]
        elif tok.startswith("g") and tok[1:2].isdigit() and conv:
            o.groups = _ints(tok[1:], "groups", text, (1,))[0]
        elif tok == "dw" and conv:
            o.depthwise = True
        elif tok == "nobias" and conv:
            o.bias = False
        elif tok == "ceil" and not conv:
            o.ceil = True
        elif tok in ("max", "avg") and not conv:
            o.mode = tok
        elif _INT.match(tok) and conv and o.c_out is None:
            o.c_out = int(tok)
        else:
            raise CnnlabError(f"layer {text!r}: cannot read {tok!r}", SHAPE_SYNTAX)
    return o


def _pad4(pad: tuple[int, ...] | int | str, kh: int, kw: int, dilation: int) -> tuple[int, int, int, int]:
    """Top, bottom, left, right from a named mode, one number, (PH, PW) or all four."""
    if isinstance(pad, str):
        return (*ar.padding_for(pad, kh, dilation), *ar.padding_for(pad, kw, dilation))
    if isinstance(pad, int):
        return (pad, pad, pad, pad)
    if len(pad) == 1:
        return (pad[0],) * 4
    if len(pad) == 2:
        return (pad[0], pad[0], pad[1], pad[1])
    return tuple(pad)


def _window_row(layer: LayerSpec, walk: _Walk) -> None:
    """A convolution or a pooling: the size formula per axis, params and MACs, the receptive field step."""
    text, conv = layer.text, layer.kind == "conv"
    c, h, w = walk.image(
        layer,
        "layer {text!r} needs a C x H x W input but gets the flat vector {flat}",
        "put conv and pool layers before flatten / fc",
    )
    if not layer.args or not re.match(r"^\d+(x\d+)?$", layer.args[0]):
        raise CnnlabError(f"layer {text!r}: the kernel size must come first", SHAPE_SYNTAX)
    kh, kw = _kernel(layer.args[0], text)
    o = _window_options(layer)
    if conv:
        o.groups = c if o.depthwise else o.groups
        if o.c_out is None:
            if not o.depthwise:
                raise CnnlabError(
                    f"layer {text!r}: how many output channels? end it with a number, e.g. 'conv 3 p1 64'", SHAPE_SYNTAX
                )
            o.c_out = c
    sh, sw = (kh, kw) if o.stride is None and not conv else ((1, 1) if o.stride is None else (o.stride * 2)[:2])
    pad4 = _pad4(o.pad, kh, kw, o.dilation)
    try:
        fh = size_formula("height", h, kh, sh, pad4[:2], o.dilation, o.ceil, walk.strict)
        fw = size_formula("width", w, kw, sw, pad4[2:], o.dilation, o.ceil, walk.strict)
    except CnnlabError as e:
        raise CnnlabError(f"layer {text!r} (input {c}x{h}x{w}): {e.message}", e.hint) from None
    if conv:
        walk.number += 1
        cost = ar.conv_cost(c, o.c_out, (kh, kw), fh.out, fw.out, o.groups, o.bias)
        out, params, macs = (o.c_out, fh.out, fw.out), cost.params, cost.macs
    else:
        out, params, macs = (c, fh.out, fw.out), 0, ar.pool_macs(c, fh.out, fw.out, (kh, kw))
    if walk.rf is not None:
        walk.rf, walk.jump, walk.start = ar.receptive_field_step(
            walk.rf, walk.jump, walk.start, kh, sh, pad4[0], o.dilation
        )
    name = f"conv{walk.number}" if conv else f"{o.mode}pool{walk.number}"
    walk.add(
        LayerRow(
            name,
            layer.kind,
            text,
            walk.shape,
            out,
            (kh, kw),
            (sh, sw),
            pad4,
            (o.dilation, o.dilation),
            o.groups,
            [fh, fw],
            params,
            macs,
            walk.rf,
            walk.jump,
            walk.start,
        )
    )


def _gap_row(layer: LayerSpec, walk: _Walk) -> None:
    c, h, w = walk.image(layer, "layer {text!r} needs a C x H x W input", "put gap before fc")
    walk.add(
        LayerRow(
            f"gap{walk.number}",
            "gap",
            layer.text,
            walk.shape,
            (c, 1, 1),
            (h, w),
            (1, 1),
            (0, 0, 0, 0),
            params=0,
            macs=c * h * w,
            rf=None,
        ),
        keeps_rf=False,
    )


def _flatten_row(layer: LayerSpec, walk: _Walk) -> None:
    if layer.args:
        raise CnnlabError(f"layer {layer.text!r}: flatten takes no arguments", SHAPE_SYNTAX)
    walk.add(LayerRow("flatten", "flatten", layer.text, walk.shape, (math.prod(walk.shape),)))


def _fc_row(layer: LayerSpec, walk: _Walk) -> None:
    if len(layer.args) != 1 or not _INT.match(layer.args[0]):
        raise CnnlabError(f"layer {layer.text!r}: write 'fc N' with N the output features", SHAPE_SYNTAX)
    walk.number += 1
    n = int(layer.args[0])
    cost = ar.linear_cost(math.prod(walk.shape), n)
    walk.add(
        LayerRow(f"fc{walk.number}", "fc", layer.text, walk.shape, (n,), params=cost.params, macs=cost.macs, rf=None),
        keeps_rf=False,
    )


def _elementwise_row(layer: LayerSpec, walk: _Walk) -> None:
    """Layers that keep the shape (activations, LRN, dropout, batch norm: 2C parameters)."""
    params = 2 * walk.shape[0] if layer.kind == "bn" else 0
    walk.add(
        LayerRow(
            f"{layer.kind}{walk.number}",
            layer.kind,
            layer.text,
            walk.shape,
            walk.shape,
            params=params,
            rf=walk.rf,
            jump=walk.jump,
            start=walk.start,
        )
    )


def _tconv_row(layer: LayerSpec, walk: _Walk) -> None:
    """A transposed convolution: output (n - 1)S - 2P + D(K - 1) + OP + 1 per axis."""
    text, args = layer.text, layer.args
    c, h, w = walk.image(layer, "layer {text!r} needs a C x H x W input", "put tconv layers before flatten / fc")
    walk.number += 1
    if not args or not re.match(r"^\d+(x\d+)?$", args[0]):
        raise CnnlabError(f"layer {text!r}: the kernel size must come first", SHAPE_SYNTAX)
    kh, kw = _kernel(args[0], text)
    stride, pad, opad, dil, c_out = (1, 1), (0, 0), (0, 0), 1, None
    for tok in args[1:]:
        if tok.startswith("op") and tok[2:3].isdigit():
            opad = (_ints(tok[2:], "output padding", text, (1, 2)) * 2)[:2]
        elif tok.startswith("s") and tok[1:2].isdigit():
            stride = (_ints(tok[1:], "stride", text, (1, 2)) * 2)[:2]
        elif tok.startswith("p") and tok[1:2].isdigit():
            pad = (_ints(tok[1:], "padding", text, (1, 2)) * 2)[:2]
        elif tok.startswith("d") and tok[1:2].isdigit():
            dil = _ints(tok[1:], "dilation", text, (1,))[0]
        elif _INT.match(tok) and c_out is None:
            c_out = int(tok)
        else:
            raise CnnlabError(f"layer {text!r}: cannot read {tok!r}", SHAPE_SYNTAX)
    if c_out is None:
        raise CnnlabError(
            f"layer {text!r}: how many output channels? end it with a number, e.g. 'tconv 4 s2 p1 64'", SHAPE_SYNTAX
        )
    try:
        oh = ar.tconv_output_size(h, kh, stride[0], pad[0], opad[0], dil)
        ow = ar.tconv_output_size(w, kw, stride[1], pad[1], opad[1], dil)
    except CnnlabError as e:
        raise CnnlabError(f"layer {text!r} (input {c}x{h}x{w}): {e.message}", e.hint) from None
    formulas = [
        TconvFormula(axis, n, k, s, p, op, dil, out)
        for axis, n, k, s, p, op, out in (
            ("height", h, kh, stride[0], pad[0], opad[0], oh),
            ("width", w, kw, stride[1], pad[1], opad[1], ow),
        )
    ]
    params = c * c_out * kh * kw + c_out
    macs = ar.conv_mac_count(c * h * w, c_out, (kh, kw))  # each input element scatters into C_out x K_h x K_w
    walk.add(
        LayerRow(
            f"tconv{walk.number}",
            "tconv",
            text,
            walk.shape,
            (c_out, oh, ow),
            (kh, kw),
            stride,
            (pad[0], pad[0], pad[1], pad[1]),
            (dil, dil),
            1,
            formulas,
            params,
            macs,
            None,
        ),
        keeps_rf=False,
    )


ROW_BUILDERS = {
    "conv": _window_row,
    "pool": _window_row,
    "tconv": _tconv_row,
    "gap": _gap_row,
    "fc": _fc_row,
    "flatten": _flatten_row,
    **dict.fromkeys(("relu", "lrn", "dropout", "bn", "tanh", "sigmoid"), _elementwise_row),
}


@dataclass
class TconvFormula:
    """One axis of ``(n - 1)s - 2p + d(k - 1) + output_padding + 1``, with the numbers put in."""

    axis: str
    size: int
    kernel: int
    stride: int
    pad_before: int
    output_padding: int
    dilation: int
    out: int

    @property
    def pad_after(self) -> int:
        return self.pad_before

    @property
    def text(self) -> str:
        kern = f"{self.kernel - 1}" if self.dilation == 1 else f"{self.dilation}x({self.kernel}-1)"
        op = f" + {self.output_padding}" if self.output_padding else ""
        return f"({self.size} - 1)x{self.stride} - 2x{self.pad_before} + {kern}{op} + 1 = {self.out} (transposed)"


def _shape_text(s: tuple[int, ...]) -> str:
    return "x".join(map(str, s))


def _short(n: int) -> str:
    from ..analysis.render import human

    return human(n)


def render_shape(e: ShapeExplanation, formulas: bool = True) -> str:
    head = ["layer", "input", "K", "S", "P", "output", "mem KB", "params", "MACs", "RF", "jump"]
    table = []
    for r in e.rows:
        pad = (
            "-"
            if r.padding is None
            else (str(r.padding[0]) if len(set(r.padding)) == 1 else ",".join(map(str, r.padding)))
        )
        k = (
            "-"
            if r.kernel is None
            else (str(r.kernel[0]) if r.kernel[0] == r.kernel[1] else f"{r.kernel[0]}x{r.kernel[1]}")
        )
        s = (
            "-"
            if r.stride is None
            else (str(r.stride[0]) if r.stride[0] == r.stride[1] else f"{r.stride[0]}x{r.stride[1]}")
        )
        table.append(
            [
                r.name,
                _shape_text(r.in_shape),
                k,
                s,
                pad,
                _shape_text(r.out_shape),
                f"{r.memory_kb:,.1f}",
                f"{r.params:,}",
                f"{r.macs:,}",
                "global" if r.rf is None and r.kind in ("fc", "gap") else ("-" if r.rf is None else str(r.rf)),
                "-" if r.jump is None else str(r.jump),
            ]
        )
    table.append(
        [
            "total",
            _shape_text(e.input_shape),
            "",
            "",
            "",
            "",
            f"{e.memory_kb:,.1f}",
            f"{e.params:,}",
            f"{e.macs:,}",
            "",
            "",
        ]
    )
    widths = [max(len(row[i]) for row in [head] + table) for i in range(len(head))]
    left = {0, 1, 5}

    def fmt(row):
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(cells)).rstrip()

    lines = [fmt(head)] + [fmt(r) for r in table[:-1]] + ["-" * len(fmt(head)), fmt(table[-1])]
    lines.append(
        f"total: {e.params:,} parameters ({_short(e.params)}), {e.macs:,} multiply-adds "
        f"({_short(e.macs)} MACs = {_short(2 * e.macs)} FLOPs), activations {e.memory_kb:,.1f} KB "
        f"(float32, input not counted)"
    )
    if formulas:
        lines += ["", "output sizes, (W - K + 2P)/S + 1:"]
        for r in e.rows:
            if r.formulas:
                fh, fw = r.formulas
                txt = (
                    fh.text
                    if (fh.size, fh.kernel, fh.stride, fh.pad_before, fh.pad_after)
                    == (fw.size, fw.kernel, fw.stride, fw.pad_before, fw.pad_after)
                    else f"H: {fh.text};  W: {fw.text}"
                )
                lines.append(f"  {r.name:<10}{txt}")
    return "\n".join(lines)
