"""Conv-norm-act, the unit most architectures are built from."""

from __future__ import annotations

import torch.nn as nn

from .act import make_activation


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Symmetric padding that keeps the size at stride 1 for an odd (dilated) kernel."""
    return (kernel_size - 1) // 2 * dilation


class ConvNormAct(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> activation`` as a Sequential (keys ``0``, ``1``, ``2``).

    The keys match torchvision's ``Conv2dNormActivation``, so MobileNet and EfficientNet weight
    files load unchanged. ``norm=False`` drops the norm (and gives the conv a bias);
    ``act=None`` drops the activation.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        norm: bool = True,
        act: str | type[nn.Module] | None = "relu",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        inplace: bool = True,
    ):
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=not norm)
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_ch, eps=bn_eps, momentum=bn_momentum))
        if act is not None:
            layers.append(make_activation(act, inplace=inplace))
        super().__init__(*layers)
        self.out_channels = out_ch
