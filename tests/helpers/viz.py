"""Small networks whose explanations are known, and a check that a model was left untouched."""

from __future__ import annotations

import torch
import torch.nn as nn


class KeepRegion(nn.Module):
    """Multiplies the input by a fixed 0/1 mask: the network after it sees only the mask's region."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, x):
        return x * self.mask


def region_net(mask: torch.Tensor, channels: int = 1, classes: int = 2) -> nn.Module:
    """Input mask -> two bias-free 3x3 convs with ReLU -> global mean -> linear; class 0's weights are
    positive, so its evidence is wherever the (non-negative) activations are."""
    torch.manual_seed(0)
    net = nn.Sequential(
        KeepRegion(mask),
        nn.Conv2d(channels, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes),
    )
    with torch.no_grad():
        net[7].weight[0] = net[7].weight[0].abs() + 0.1
    return net


def model_state(model: nn.Module) -> dict:
    """Everything a visualisation must not change: hooks, modes, requires_grad, .grad."""
    hooks = sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in model.modules()
    )
    return dict(
        hooks=hooks,
        modes=[m.training for m in model.modules()],
        requires_grad=[p.requires_grad for p in model.parameters()],
        grads=[p.grad is None for p in model.parameters()],
        global_hooks=len(nn.modules.module._global_forward_hooks) + len(nn.modules.module._global_backward_hooks),
    )
