"""The warnings a teacher would give about a convolution or pooling window.

- a size floored away: (n + 2p - k)/s is not an integer, so the stride does not fit and the last
  rows/columns of the input are never read (AlexNet with conv1 pad 2: pool1 drops a row and a
  column of its 56 x 56 input); not for windows narrower than their stride (a 1 x 1 stride-2
  shortcut skips every other row by design);
- ceil mode: the last window hangs over the edge of the input;
- a kernel larger than its input (the output is computed mostly from padding).

Sizes come from ``cnnlab.conv.arithmetic`` (the one place the formula lives).
"""

from __future__ import annotations

from ..conv.arithmetic import conv_output_size, effective_kernel

AXES = ("row", "column")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("s" if n != 1 else "")


def window_warnings(op: str, geometry: dict, in_spatial: tuple[int, ...]) -> list[str]:
    """Warnings for one convolution/pooling call on an input of spatial size ``in_spatial``."""
    if geometry is None or geometry.get("transposed") or geometry.get("op") == "adaptive":
        return []
    k, s, p, d = (geometry[key] for key in ("kernel", "stride", "padding", "dilation"))
    if isinstance(p, str):
        return []
    ceil_mode = bool(geometry.get("ceil_mode"))
    n_axes = len(k)
    names = AXES[-n_axes:] if n_axes <= 2 else ("depth",) + AXES
    dropped, overhang, too_big = {}, {}, {}
    for axis in range(n_axes):
        n, ki, si, pi, di = in_spatial[axis], k[axis], s[axis], p[axis], d[axis]
        span = effective_kernel(ki, di)
        if span > n:
            too_big[names[axis]] = (span, n)
        floor_out = conv_output_size(n, ki, si, pi, di, ceil_mode=False)
        if ceil_mode:
            ceil_out = conv_output_size(n, ki, si, pi, di, ceil_mode=True)
            if ceil_out != floor_out:
                overhang[names[axis]] = (n, ki, si, pi, ceil_out)
            continue
        unread = n + 2 * pi - ((floor_out - 1) * si + span)
        real = unread - pi  # rows of the image itself (not padding) that no window reaches
        if real > 0 and span >= si:  # (windows narrower than the stride skip rows everywhere, by design)
            dropped[names[axis]] = (n, ki, si, pi, real, floor_out)
    out: list[str] = []
    if dropped:
        axes = " and ".join(_plural(v[4], a) for a, v in dropped.items())
        n, ki, si, pi, _, fo = next(iter(dropped.values()))
        out.append(
            f"{op}: size floored: (n + 2P - K)/S = ({n} + {2 * pi} - {ki})/{si} is not an integer, so the "
            f"stride does not fit; the last {axes} of the {_shape(in_spatial)} input are never read "
            f"(output {fo})"
        )
    if overhang:
        n, ki, si, pi, co = next(iter(overhang.values()))
        out.append(
            f"{op}: ceil mode: ({n} + {2 * pi} - {ki})/{si} is rounded up, so the last window hangs over "
            f"the edge of the {_shape(in_spatial)} input (output {co} instead of "
            f"{conv_output_size(n, ki, si, pi, 1)})"
        )
    if too_big:
        span, n = next(iter(too_big.values()))
        out.append(
            f"{op}: kernel spanning {span} is larger than its {_shape(in_spatial)} input: the output is "
            f"computed mostly from padding"
        )
    return out


def _shape(spatial: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in spatial)
