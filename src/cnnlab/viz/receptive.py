"""The receptive field of one unit, two ways (lecture 004; Luo et al. 2016, "Understanding the
effective receptive field"): the theoretical one from the analyzer (size r, jump j, start of the
first field: unit ``i`` sees input rows ``start + i j +- r/2``) and the effective one, the gradient
magnitude of that unit with respect to the input, which is concentrated in the middle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from .hooks import check_image, first_tensor, inspecting, module_named


@dataclass
class ReceptiveFieldView:
    layer: str
    position: tuple[int, int]  # the unit's (row, column) in the layer's output map
    output_size: tuple[int, int]  # the layer's output map
    size: tuple[int, int]  # theoretical r per axis (analyzer)
    jump: tuple[int, int]
    start: tuple[float, float]
    effective: np.ndarray  # H x W float32 in [0, 1]: |d unit / d x| summed over input channels

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(top, left, bottom, right) of the theoretical field in input pixel edges (may reach past the image)."""
        cy = self.start[0] + self.position[0] * self.jump[0]
        cx = self.start[1] + self.position[1] * self.jump[1]
        return cy - self.size[0] / 2, cx - self.size[1] / 2, cy + self.size[0] / 2, cx + self.size[1] / 2

    def effective_extent(self, fraction: float = 0.95) -> float:
        """Side (pixels) of the smallest centred square around the theoretical centre that holds
        ``fraction`` of the effective field's mass."""
        top, left, bottom, right = self.box
        cy, cx = (top + bottom) / 2, (left + right) / 2
        h, w = self.effective.shape
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
        dist = np.maximum(np.abs(ys - cy), np.abs(xs - cx)).ravel()
        mass = self.effective.ravel().astype(np.float64)
        order = np.argsort(dist)
        cum = np.cumsum(mass[order])
        if cum[-1] <= 0:
            return 0.0
        k = int(np.searchsorted(cum, fraction * cum[-1]))
        return float(2 * dist[order][min(k, len(order) - 1)])


def theoretical_field(model: nn.Module, layer: str, input_size: tuple[int, int, int]):
    """The analyzer's receptive field of ``layer``'s output (``cnnlab summary`` rows at the layer's depth)."""
    from ..analysis import summary

    rows = summary(model, input_size=input_size, depth=layer.count(".") + 1)
    try:
        rf = rows.layer(layer).rf
    except CnnlabError:
        rf = None
    if rf is None:
        raise CnnlabError(
            f"the analyzer has no receptive field for layer {layer!r}",
            "pick a convolution or pooling layer from `cnnlab summary MODEL`",
        )
    if rf.is_global:
        raise CnnlabError(
            f"every unit of {layer!r} sees the whole input (after a fully connected layer, global "
            "pooling or attention)",
            "pick an earlier, convolutional layer",
        )
    return rf


def receptive_field(
    model: nn.Module, x: torch.Tensor, layer: str, position: tuple[int, int] | None = None, channel: int | None = None
) -> ReceptiveFieldView:
    """Theoretical and effective receptive field of one unit of ``layer`` (an ``N x C x H x W`` output)
    for the normalised image ``x``: the unit at ``position`` (default: the centre of the map),
    summed over channels (or ``channel`` only)."""
    x = check_image(x)
    module = module_named(model, layer)
    rf = theoretical_field(model, layer, tuple(x.shape[1:]))
    score: list[torch.Tensor] = []
    where: list = []

    def hook(m, args, out):
        t = first_tensor(out)
        if t is None or t.dim() != 4:
            raise CnnlabError(f"layer {layer!r} gives no N x C x H x W map", "pick a convolutional layer")
        i, j = position if position is not None else (t.shape[-2] // 2, t.shape[-1] // 2)
        if not (0 <= i < t.shape[-2] and 0 <= j < t.shape[-1]):
            raise CnnlabError(f"position ({i}, {j}) is outside {layer!r}'s {t.shape[-2]}x{t.shape[-1]} map")
        unit = t[0, :, i, j] if channel is None else t[0, channel, i, j]
        score.append(unit.float().sum())  # indexing keeps no values: a later in-place op is harmless
        where.append(((i, j), (t.shape[-2], t.shape[-1])))

    handle = module.register_forward_hook(hook)
    try:
        with inspecting(model):
            xin = x.clone().requires_grad_(True)
            model(xin)
            if not score:
                raise CnnlabError(f"layer {layer!r} did not run in the forward pass")
            (g,) = torch.autograd.grad(score[-1], xin, allow_unused=True)
    finally:
        handle.remove()
    eff = torch.zeros(x.shape[-2:]) if g is None else g[0].abs().sum(0)
    top = eff.max()
    eff = (eff / top if top > 0 else eff).numpy().astype(np.float32)
    (pos, out_size) = where[-1]
    return ReceptiveFieldView(layer, tuple(pos), tuple(out_size), tuple(rf.size), tuple(rf.jump), tuple(rf.start), eff)
