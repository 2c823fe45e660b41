"""Parameter and multiply-add counts for the zoo tests, on the meta device (nothing is computed).

Multiply-adds come from PyTorch's own ``FlopCounterMode`` (convolutions, linear layers and the
attention matrix products; FLOPs = 2 x MACs), an independent check of our tables.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def meta(build, *args, **kwargs) -> nn.Module:
    with torch.device("meta"):
        model = build(*args, **kwargs)
    return model.eval()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def macs(model: nn.Module, side: int, chans: int = 3, exclude_classifier: bool = False) -> int:
    """Multiply-adds of one ``chans x side x side`` image (optionally without the final classifier)."""
    model = model.to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, chans, side, side, device="meta"))
    total = counter.get_total_flops() // 2
    if exclude_classifier:
        fc = model.get_classifier()
        total -= fc.in_features * fc.out_features
    return total
