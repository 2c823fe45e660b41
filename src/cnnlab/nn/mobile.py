"""The blocks of the mobile networks: depthwise-separable convolution, the inverted residual
(MBConv) and Fused-MBConv.

Lecture 004 ("MobileNets: tiny networks"): a 3x3 standard convolution costs ``9 C^2 H W``
multiply-adds; a depthwise 3x3 (``9 C H W``) followed by a pointwise 1x1 (``C^2 H W``) costs
``(9C + C^2) H W``, about 9x less as C grows.

- :class:`DepthwiseSeparable`: MobileNetV1 (Howard et al. 2017, Fig. 3): dw 3x3-BN-ReLU, pw 1x1-BN-ReLU.
  Keys ``conv_dw, bn1, conv_pw, bn2`` as timm's ``DepthwiseSeparableConv``.
- :class:`InvertedResidual`: MobileNetV2 (Sandler et al. 2018, Table 1): expand 1x1 (factor t) -
  depthwise - linear 1x1 projection, residual when shape is kept. Keys ``conv.{i}`` as torchvision's.
- :class:`MBConv`: the same block with optional squeeze-excite and stochastic depth, as MobileNetV3
  (Howard et al. 2019, Fig. 4) and EfficientNet (Tan & Le 2019) use it. Keys ``block.{i}`` as torchvision's.
- :class:`FusedMBConv`: EfficientNetV2 (Tan & Le 2021, Fig. 2): the expand 1x1 and the depthwise
  kxk fused into one regular kxk convolution. Keys ``block.{i}`` as torchvision's.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .act import make_activation
from .conv import ConvNormAct, same_padding
from .drop import DropPath
from .se import SqueezeExcite


class DepthwiseSeparable(nn.Module):
    """Depthwise kxk conv - BN - act, then pointwise 1x1 conv - BN - act (MobileNetV1)."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int = 1, kernel_size: int = 3, act: str = "relu", bn_eps: float = 1e-5
    ):
        super().__init__()
        self.conv_dw = nn.Conv2d(in_ch, in_ch, kernel_size, stride, same_padding(kernel_size), groups=in_ch, bias=False)
        self.bn1 = nn.BatchNorm2d(in_ch, eps=bn_eps)
        self.act1 = make_activation(act, inplace=True)
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch, eps=bn_eps)
        self.act2 = make_activation(act, inplace=True)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))
        return self.act2(self.bn2(self.conv_pw(x)))


def _inverted_residual_layers(
    in_ch: int,
    out_ch: int,
    expand_ch: int,
    kernel_size: int,
    stride: int,
    act: str,
    se_ch: int,
    se_act: str,
    se_gate: str,
    dilation: int,
    bn: dict,
    flat_projection: bool,
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    if expand_ch != in_ch:  # expansion 1x1 (skipped when t = 1)
        layers.append(ConvNormAct(in_ch, expand_ch, 1, act=act, **bn))
    layers.append(
        ConvNormAct(expand_ch, expand_ch, kernel_size, stride, groups=expand_ch, dilation=dilation, act=act, **bn)
    )
    if se_ch:
        layers.append(SqueezeExcite(expand_ch, se_ch, act=se_act, gate=se_gate))
    if flat_projection:  # MobileNetV2's layout: Conv2d and BatchNorm2d directly in the Sequential
        layers += [
            nn.Conv2d(expand_ch, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch, eps=bn["bn_eps"], momentum=bn["bn_momentum"]),
        ]
    else:  # linear bottleneck: no activation after the projection
        layers.append(ConvNormAct(expand_ch, out_ch, 1, act=None, **bn))
    return layers


class _ResidualBlock(nn.Module):
    """A body with an identity shortcut when stride is 1 and the channels are kept."""

    def _init_shortcut(self, in_ch: int, out_ch: int, stride: int, drop_path: float) -> None:
        self.use_res_connect = stride == 1 and in_ch == out_ch
        self.drop_path = DropPath(drop_path) if (drop_path > 0 and self.use_res_connect) else nn.Identity()
        self.out_channels = out_ch

    def _residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(y) if self.use_res_connect else y


class InvertedResidual(_ResidualBlock):
    """MobileNetV2 inverted residual with linear bottleneck (Sandler et al. 2018, Table 1):
    ``1x1 (t*c_in) ReLU6 -> 3x3 dw stride s ReLU6 -> 1x1 linear (c_out)`` (MCUNet varies the kernel)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int,
        expand_ratio: float,
        act: str = "relu6",
        drop_path: float = 0.0,
        kernel_size: int = 3,
    ):
        super().__init__()
        expand_ch = int(round(in_ch * expand_ratio))
        self.conv = nn.Sequential(
            *_inverted_residual_layers(
                in_ch,
                out_ch,
                expand_ch,
                kernel_size,
                stride,
                act,
                0,
                "relu",
                "sigmoid",
                1,
                dict(bn_eps=1e-5, bn_momentum=0.1),
                flat_projection=True,
            )
        )
        self._init_shortcut(in_ch, out_ch, stride, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._residual(x, self.conv(x))


class MBConv(_ResidualBlock):
    """Mobile inverted bottleneck with optional squeeze-excite (MobileNetV3, EfficientNet).

    ``expand_ch`` is the width of the depthwise convolution (``in_ch`` = no expansion layer);
    ``se_ch`` the squeeze width of the squeeze-excite (0 = none). The SE sits after the depthwise
    convolution, before the projection, as in both papers.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        expand_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str = "silu",
        se_ch: int = 0,
        se_act: str = "silu",
        se_gate: str = "sigmoid",
        dilation: int = 1,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.block = nn.Sequential(
            *_inverted_residual_layers(
                in_ch,
                out_ch,
                expand_ch,
                kernel_size,
                stride,
                act,
                se_ch,
                se_act,
                se_gate,
                dilation,
                dict(bn_eps=bn_eps, bn_momentum=bn_momentum),
                flat_projection=False,
            )
        )
        self._init_shortcut(in_ch, out_ch, stride, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._residual(x, self.block(x))


class FusedMBConv(_ResidualBlock):
    """Fused-MBConv (EfficientNetV2, Tan & Le 2021, Fig. 2): ``kxk conv (expand) -> 1x1 linear``;
    with expansion 1 a single ``kxk conv-BN-act``."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        expand_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        act: str = "silu",
        bn_eps: float = 1e-3,
        bn_momentum: float = 0.1,
        drop_path: float = 0.0,
    ):
        super().__init__()
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        if expand_ch != in_ch:
            layers = [
                ConvNormAct(in_ch, expand_ch, kernel_size, stride, act=act, **bn),
                ConvNormAct(expand_ch, out_ch, 1, act=None, **bn),
            ]
        else:
            layers = [ConvNormAct(in_ch, out_ch, kernel_size, stride, act=act, **bn)]
        self.block = nn.Sequential(*layers)
        self._init_shortcut(in_ch, out_ch, stride, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._residual(x, self.block(x))
