"""Helpers of the residual / dense / NFNet zoo tests: multiply-add and parameter counting by hand.

``count_macs`` is an independent check of the analyzer: forward hooks on the meta device (shapes
only), multiply-adds of convolutions (out elements x C_in/groups x k x k) and linear layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def count_macs(model: nn.Module, x: torch.Tensor, kinds: tuple[type, ...] = (nn.Conv2d, nn.Linear)) -> int:
    total = 0

    def hook(mod, _inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d) and isinstance(mod, kinds):
            total += out[0].numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        elif isinstance(mod, nn.Linear) and isinstance(mod, kinds):
            total += mod.in_features * mod.out_features * (out.numel() // out.shape[-1] // out.shape[0])

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kw) -> nn.Module:
    from cnnlab import create_model

    with torch.device("meta"):
        return create_model(name, **kw).eval()


def meta_input(c: int, h: int, w: int | None = None, n: int = 1) -> torch.Tensor:
    return torch.empty(n, c, h, w or h, device="meta")
