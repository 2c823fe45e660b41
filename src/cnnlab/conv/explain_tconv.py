"""Transposed convolution step by step (lecture 002, "Transposed Convolution (Padding and Strides)").

A transposed convolution runs the convolution's bookkeeping backwards: every *input* element
spreads a copy of the kernel, scaled by its value, into the output, copies ``s`` pixels apart; the
copies are added; then ``p`` rows and columns are cut from each side (and ``output_padding``
rows/columns are kept at the bottom/right)::

    x[0, 0] = 2:  2 x K at rows 0-2, columns 0-2
    ...
    output size = (n - 1)s - 2p + d(k - 1) + output_padding + 1

The lecture's figures are Dumoulin & Visin's (2016, "A guide to convolution arithmetic", Fig. 4.1
and 4.5): a 2x2 input and a 3x3 kernel give 4x4 without stride and 5x5 with stride 2. The numbers
are checked against ``torch.nn.functional.conv_transpose2d`` (through :func:`.reference.conv_transpose2d`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CnnlabError
from . import arithmetic as ar
from .explain import _as_chw, _as_kernel, _side_by_side
from .matrices import format_matrix, format_number
from .reference import conv_transpose2d


@dataclass
class TconvSize:
    axis: str
    size: int
    kernel: int
    stride: int
    padding: int
    output_padding: int
    dilation: int
    out: int

    @property
    def text(self) -> str:
        k = ar.effective_kernel(self.kernel, self.dilation)
        kern = f"{k - 1}" if self.dilation == 1 else f"{self.dilation}x({self.kernel}-1)"
        op = f" + {self.output_padding}" if self.output_padding else ""
        return f"({self.size} - 1)x{self.stride} - 2x{self.padding} + {kern}{op} + 1 = {self.out}"


@dataclass
class Spread:
    """One input element's contribution: value x kernel, top-left tap at (row, col) of the uncropped output."""

    out_channel: int
    channel: int
    i: int
    j: int
    value: float
    row: int
    col: int
    contribution: np.ndarray  # the uncropped output with only this element's copy


@dataclass
class TconvExplanation:
    input: np.ndarray  # C x H x W
    kernel: np.ndarray  # C_out x C x K_h x K_w (kernel[o, c] is spread by input channel c into output o)
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    sizes: list[TconvSize]
    full: np.ndarray  # C_out x uncropped H x W
    output: np.ndarray  # C_out x H' x W'
    spreads: list[Spread]

    def to_dict(self) -> dict:
        return {
            "input": self.input.tolist(),
            "kernel": self.kernel.tolist(),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "dilation": list(self.dilation),
            "sizes": [s.text for s in self.sizes],
            "uncropped": self.full.tolist(),
            "output": self.output.tolist(),
            "spreads": [
                {
                    "out_channel": s.out_channel,
                    "channel": s.channel,
                    "i": s.i,
                    "j": s.j,
                    "value": s.value,
                    "row": s.row,
                    "col": s.col,
                }
                for s in self.spreads
            ],
        }


def _two(v, name: str) -> tuple[int, int]:
    if isinstance(v, int | np.integer):
        return int(v), int(v)
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v[0], v[0]
    if len(v) != 2:
        raise CnnlabError(f"{name} takes one number or two (rows, columns), got {v}")
    return v


def explain_tconv(x, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> TconvExplanation:
    """Every input element's scaled kernel copy, their sum, the cropping, and the output.

    ``x``: ``H x W`` or ``C x H x W``; ``kernel``: ``K_h x K_w`` (used on every channel),
    ``C x K_h x K_w`` (one output channel) or ``C_out x C x K_h x K_w``.
    """
    x = _as_chw(x, "input")
    k = _as_kernel(kernel, x.shape[0])
    c_out, c_in, kh, kw = k.shape
    (sh, sw), (ph, pw) = _two(stride, "stride"), _two(padding, "padding")
    (oph, opw), (dh, dw) = _two(output_padding, "output padding"), _two(dilation, "dilation")
    _, h, w = x.shape
    sizes = [
        TconvSize("height", h, kh, sh, ph, oph, dh, ar.tconv_output_size(h, kh, sh, ph, oph, dh)),
        TconvSize("width", w, kw, sw, pw, opw, dw, ar.tconv_output_size(w, kw, sw, pw, opw, dw)),
    ]
    span_h, span_w = ar.effective_kernel(kh, dh), ar.effective_kernel(kw, dw)
    full = np.zeros((c_out, (h - 1) * sh + span_h + oph, (w - 1) * sw + span_w + opw))
    spreads = []
    for o in range(c_out):
        for c in range(c_in):
            for i in range(h):
                for j in range(w):
                    part = np.zeros(full.shape[1:])
                    part[i * sh : i * sh + span_h : dh, j * sw : j * sw + span_w : dw] = x[c, i, j] * k[o, c]
                    full[o] += part
                    spreads.append(Spread(o, c, i, j, float(x[c, i, j]), i * sh, j * sw, part))
    out = full[:, ph : ph + sizes[0].out, pw : pw + sizes[1].out]
    # the same numbers through the reference op (PyTorch's weight layout is C_in x C_out)
    check = conv_transpose2d(x[None], k.transpose(1, 0, 2, 3), None, (sh, sw), (ph, pw), (oph, opw), 1, (dh, dw))[0]
    assert np.allclose(check, out), "explain_tconv disagrees with reference.conv_transpose2d"
    return TconvExplanation(x, k, (sh, sw), (ph, pw), (oph, opw), (dh, dw), sizes, full, out.copy(), spreads)


def _pair_text(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]},{v[1]}"


def render_tconv(e: TconvExplanation, max_steps: int | None = 16) -> str:
    c_in, h, w = e.input.shape
    c_out, _, kh, kw = e.kernel.shape
    lines = [
        f"transposed convolution of a {'x'.join(map(str, (h, w) if c_in == 1 else (c_in, h, w)))} input "
        f"with a {kh}x{kw} kernel" + (f" ({c_out} output channels)" if c_out > 1 else ""),
        f"stride {_pair_text(e.stride)}, padding {_pair_text(e.padding)}, output padding "
        f"{_pair_text(e.output_padding)}, dilation {_pair_text(e.dilation)}",
        "",
        "output size = (n - 1)s - 2p + d(k - 1) + output_padding + 1",
    ]
    for s in e.sizes:
        lines.append(f"  {s.axis + ':':<8}{s.text}")
    blocks = [("input" if c_in == 1 else f"input channel {c}", format_matrix(e.input[c])) for c in range(c_in)]
    blocks += [
        ("kernel" if c_in == c_out == 1 else f"kernel {o} channel {c}", format_matrix(e.kernel[o, c]))
        for o in range(c_out)
        for c in range(c_in)
    ]
    lines += (
        [""]
        + _side_by_side(blocks)
        + [
            "",
            f"each input element x[i, j] adds x[i, j] x kernel with its top-left tap at (i x {e.stride[0]}, "
            f"j x {e.stride[1]})" + (f", taps {e.dilation[0]} apart" if e.dilation != (1, 1) else "") + ":",
            "",
        ]
    )
    shown = e.spreads if max_steps is None else e.spreads[:max_steps]
    for s in shown:
        where = f"x[{s.i}, {s.j}]" if c_in == 1 else f"x[{s.channel}, {s.i}, {s.j}]"
        to = "" if c_out == 1 else f" into output {s.out_channel}"
        title = f"{where} = {format_number(s.value)}: {format_number(s.value)} x kernel at ({s.row}, {s.col}){to}"
        lines += [title] + ["  " + r for r in format_matrix(s.contribution)] + [""]
    if len(shown) < len(e.spreads):
        lines += [f"... {len(e.spreads) - len(shown)} more input element(s) (use --max-steps 0 to show all)", ""]
    cropped = any(e.padding)
    for o in range(c_out):
        label = "sum of the copies" + ("" if c_out == 1 else f" (output {o})")
        if cropped:
            label += f": {e.full.shape[1]}x{e.full.shape[2]} before cutting the padding"
        lines += [label] + ["  " + r for r in format_matrix(e.full[o])] + [""]
        if cropped:
            lines += [
                f"cut {e.padding[0]} row(s) from top and bottom, {e.padding[1]} column(s) left and right"
                + (" (output padding keeps extra ones at the bottom/right)" if any(e.output_padding) else ""),
                "",
            ]
        lines += [f"output{'' if c_out == 1 else f' {o}'} ({e.output.shape[1]}x{e.output.shape[2]})"]
        lines += ["  " + r for r in format_matrix(e.output[o])] + [""]
    back = [ar.conv_output_size(s.out + 2 * s.padding, s.kernel, s.stride, 0, s.dilation) for s in e.sizes]
    lines.append(
        f"parameters: {c_in} x {c_out} x {kh} x {kw} = {c_in * c_out * kh * kw} (+ {c_out} bias); a "
        f"convolution with the same kernel, stride and padding maps {e.output.shape[1]}x{e.output.shape[2]}"
        f" to {back[0]}x{back[1]}" + (" (the input size)" if tuple(back) == (h, w) else "")
    )
    return "\n".join(lines).rstrip()
