"""Channel shuffle and the ShuffleNet units (lecture 001 "ShuffleNet", lecture 004 "ShuffleNet").

Grouped 1x1 convolutions cut the cost of the pointwise layers by the number of groups g, but a
stack of them never mixes information between groups. Channel shuffle (Zhang et al. 2018, Fig. 1)
reshapes ``C = g * n`` channels to ``(g, n)``, transposes to ``(n, g)`` and flattens, so that
the next grouped convolution sees channels from every group.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """``(N, g*n, H, W) -> (N, n*g, H, W)``: channel ``i*n + j`` moves to ``j*g + i``."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel shuffle: {c} channels do not split into {groups} groups")
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(out_ch)]


class ShuffleV1Unit(nn.Module):
    """ShuffleNet unit (Zhang et al. 2018, Fig. 2 b/c).

    ``1x1 GConv (g) - BN - ReLU - shuffle - 3x3 DWConv (stride) - BN - 1x1 GConv (g) - BN``, then
    ``ReLU(x + branch)``; with stride 2 the shortcut is a 3x3 average pool and the two are
    concatenated (the branch makes ``out - in`` channels). The bottleneck is ``out / 4`` wide.
    ``first_groups=1`` keeps the first 1x1 dense (the paper does this for the first unit of
    Stage 2, whose input has only 24 channels).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, groups: int, first_groups: int | None = None):
        super().__init__()
        mid = out_ch // 4
        branch_out = out_ch - in_ch if stride == 2 else out_ch
        g1 = groups if first_groups is None else first_groups
        for what, n in (("bottleneck", mid), ("branch output", branch_out)):
            if n % groups:
                raise ValueError(f"ShuffleNet unit: {what} of {n} channels does not split into {groups} groups")
        self.branch = nn.Sequential(
            *_conv_bn(in_ch, mid, 1, groups=g1),
            nn.ReLU(inplace=True),
            ChannelShuffle(g1) if g1 > 1 else nn.Identity(),
            *_conv_bn(mid, mid, 3, stride, groups=mid),
            *_conv_bn(mid, branch_out, 1, groups=groups),
        )
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.stride = stride
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch(x)
        if self.stride == 2:
            return torch.relu(torch.cat([self.shortcut(x), y], 1))
        return torch.relu(x + y)


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 unit (Ma et al. 2018, Fig. 3 c/d); keys ``branch1``/``branch2`` as torchvision's.

    Stride 1: split the channels in half, keep one half, run the other through
    ``1x1 - BN - ReLU - 3x3 DW - BN - 1x1 - BN - ReLU``, concatenate, shuffle (g = 2).
    Stride 2: no split; both branches see the whole input (branch1: ``3x3 DW stride 2 - BN - 1x1 - BN - ReLU``).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        half = out_ch // 2
        if stride == 1 and in_ch != 2 * half:
            raise ValueError(f"ShuffleNet V2 unit: stride 1 needs in == out channels, got {in_ch} -> {out_ch}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                *_conv_bn(in_ch, in_ch, 3, stride, groups=in_ch), *_conv_bn(in_ch, half, 1), nn.ReLU(inplace=True)
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            *_conv_bn(in_ch if stride > 1 else half, half, 1),
            nn.ReLU(inplace=True),
            *_conv_bn(half, half, 3, stride, groups=half),
            *_conv_bn(half, half, 1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)
