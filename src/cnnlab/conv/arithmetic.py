"""The arithmetic of convolution and pooling: output sizes and receptive fields (pure Python).

Notation as in the lectures: input size ``n``, kernel ``k``, stride ``s``, padding ``p`` (per
side, or ``(before, after)``), dilation ``d``. The dilated kernel spans ``d(k-1)+1`` pixels and

    out = floor((n + p_before + p_after - d(k-1) - 1) / s) + 1       (ceil instead of floor in ceil mode)

Receptive field of a chain of layers (lecture 004; Araujo et al. 2019, "Computing receptive fields
of convolutional neural networks"): with ``r`` the field, ``j`` the jump (distance in input
pixels between neighbouring outputs) and ``start`` the centre of the first output's field,

    r' = r + d(k-1) j        j' = j s        start' = start + ((d(k-1))/2 - p_before) j
"""

from __future__ import annotations

import math

Padding = int | tuple[int, int]


def _pair(p: Padding) -> tuple[int, int]:
    return (p, p) if isinstance(p, int) else (int(p[0]), int(p[1]))


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Pixels spanned by a dilated kernel: d(k-1)+1."""
    return dilation * (kernel - 1) + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: Padding = 0, dilation: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output length along one axis of a convolution or pooling window.

    In ceil mode (pooling), as in PyTorch, the last window must start inside the input or the
    left padding, so a window that would start in the right padding is dropped.
    """
    before, after = _pair(padding)
    span = size + before + after - effective_kernel(kernel, dilation)
    if span < 0:
        from ..errors import CnnlabError

        raise CnnlabError(f"kernel {kernel} (dilation {dilation}, spanning {effective_kernel(kernel, dilation)}) "
                          f"is larger than the padded input {size + before + after} ({size} + padding "
                          f"{before}+{after})", "use a smaller kernel or more padding")
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + before:
        out -= 1
    return out


def receptive_field_step(rf: int, jump: int, start: float, kernel: int, stride: int = 1,
                         padding: Padding = 0, dilation: int = 1) -> tuple[int, int, float]:
    """(r, j, start) after one layer, from (r, j, start) before it. Start with (1, 1, 0.5)."""
    before, _ = _pair(padding)
    k = effective_kernel(kernel, dilation)
    return rf + (k - 1) * jump, jump * stride, start + ((k - 1) / 2 - before) * jump
