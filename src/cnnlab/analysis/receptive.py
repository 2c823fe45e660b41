"""Receptive field of every tensor of a forward pass, for any graph.

Each tensor carries the receptive field of its positions (size r, jump j, start, per axis). A
convolution or pooling window updates it with ``cnnlab.conv.arithmetic.receptive_field_step``
(dilation-aware); operators that keep the spatial grid (activations, norms, adds, concatenation,
views) pass it on, and where several inputs meet (inception branches, residual paths) the output
takes the largest field. Fully connected layers, attention and global means see the whole input
("all"). Inputs broadcast over the grid (a squeeze-excite gate of shape C x 1 x 1) are global
context, not spatial reach, and are left out of the maximum.
"""

from __future__ import annotations

import weakref

import torch

from ..conv.arithmetic import receptive_field_step
from .records import ReceptiveField

GLOBAL = ReceptiveField(is_global=True)


class RFTracker:
    """Receptive fields keyed by tensor (weakly: nothing is kept alive)."""

    def __init__(self):
        self._map: dict[int, tuple[weakref.ref, ReceptiveField | None]] = {}

    def set(self, t: torch.Tensor, rf: ReceptiveField | None) -> None:
        self._map[id(t)] = (weakref.ref(t), rf)

    def has(self, t) -> bool:
        entry = self._map.get(id(t))
        return entry is not None and entry[0]() is t

    def get(self, t) -> ReceptiveField | None:
        entry = self._map.get(id(t))
        return entry[1] if entry is not None and entry[0]() is t else None

    def on_op(
        self, name: str, kind: str, geometry: dict | None, tensor_args: list, outs: list, args, is_view: bool = False
    ) -> None:
        known = [t for t in tensor_args if self.has(t)]
        if not known or not outs:
            return
        rf = self._propagate(name, kind, geometry, known, outs[0], args, is_view)
        for o in outs:
            self.set(o, rf)

    def _propagate(self, name, kind, geometry, known, out, args, is_view) -> ReceptiveField | None:
        if kind in ("conv", "pool") and geometry is not None:
            src = args[0]
            rf = self.get(src) if self.has(src) else None
            if rf is None or rf.is_global:
                return rf
            if geometry.get("transposed"):
                return None
            return window_step(rf, geometry, tuple(src.shape[2:]), tuple(out.shape[2:]))
        if kind in ("linear", "matmul", "attention"):
            return GLOBAL
        fields = [self.get(t) for t in known]
        if "adaptive" in name:  # uneven adaptive windows: no single kernel and stride
            return GLOBAL if all(n == 1 for n in out.shape[2:]) else None
        if kind == "pool":  # reductions (mean, sum, ...): over the grid -> global; over channels -> kept
            if out.dim() >= 2 and tuple(out.shape[-2:]) == tuple(known[0].shape[-2:]):
                return merge(fields)
            return GLOBAL
        if name in ("cat", "stack"):  # along channels (inception) or tokens (a class token): positions keep theirs
            return merge(fields)
        if name == "constant_pad_nd" and fields[0] is not None and not fields[0].is_global:
            return pad_shift(fields[0], args[1])
        if out.dim() >= 2:
            same = [self.get(t) for t in known if t.dim() >= 2 and tuple(t.shape[-2:]) == tuple(out.shape[-2:])]
            if same:
                return merge(same)
        if is_view and len(known) == 1:  # flatten, reshape: the same positions in a new layout
            return fields[0]
        if any(f is not None and f.is_global for f in fields):
            return GLOBAL
        return None


def merge(fields: list[ReceptiveField | None]) -> ReceptiveField | None:
    """Where branches meet, the largest field (per axis) wins; unknown stays unknown."""
    if any(f is None for f in fields):
        return None
    if any(f.is_global for f in fields):
        return GLOBAL
    size, jump, start = [], [], []
    for axis in range(2):
        best = max(fields, key=lambda f: f.size[axis])
        size.append(best.size[axis])
        jump.append(best.jump[axis])
        start.append(best.start[axis])
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def window_step(rf: ReceptiveField, geometry: dict, in_spatial: tuple, out_spatial: tuple) -> ReceptiveField:
    """One convolution or pooling window applied to the field, per spatial axis (height, width)."""
    k, s, p, d = (geometry[key] for key in ("kernel", "stride", "padding", "dilation"))
    if geometry.get("op") == "adaptive" and all(o == 1 for o in out_spatial):
        return GLOBAL
    nd = len(k)
    if isinstance(p, str):  # padding="same"/"valid" on a stride-1 convolution
        p = tuple((di * (ki - 1)) // 2 for ki, di in zip(k, d)) if p == "same" else (0,) * nd
    # the last two axes are the image's (1-D ops act on the width; 3-D pooling on C x H x W keeps the first)
    axes = list(range(nd))[-2:]
    size, jump, start = list(rf.size), list(rf.jump), list(rf.start)
    for slot, axis in zip(range(2 - len(axes), 2), axes):
        r, j, st = receptive_field_step(size[slot], jump[slot], start[slot], k[axis], s[axis], p[axis], d[axis])
        size[slot], jump[slot], start[slot] = r, j, st
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


def pad_shift(rf: ReceptiveField, pad) -> ReceptiveField:
    """Explicit padding (F.pad): same field and jump, the first centre moves by the padding before."""
    pad = list(pad) + [0] * (4 - len(pad))
    before_w, before_h = pad[0], pad[2]
    return ReceptiveField(rf.size, rf.jump, (rf.start[0] - before_h * rf.jump[0], rf.start[1] - before_w * rf.jump[1]))
