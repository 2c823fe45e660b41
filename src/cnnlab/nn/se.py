"""Squeeze-and-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks", Fig. 2/3).

Squeeze: global average pool to C numbers. Excite: a bottleneck of two 1x1 convolutions
(C -> C/r -> C) and a gate (sigmoid) that rescales each channel. Keys ``fc1``/``fc2`` match
torchvision's ``SqueezeExcitation`` and timm's ``SEModule``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .act import make_activation


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze_channels: int, act: str = "relu", gate: str = "sigmoid"):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = make_activation(act, inplace=True)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))
