"""Residual blocks: y = act(F(x) + shortcut(x)) (He, Zhang, Ren, Sun 2015, "Deep Residual Learning for
Image Recognition", eq. 1-2), shared by ResNet, ResNeXt, Wide ResNet, SE-ResNet, the CIFAR ResNets,
the pre-activation ResNets and NFNet.

    BasicBlock        3x3 -> 3x3                      (He et al. 2015, Fig. 5 left)   18 HWC^2 multiply-adds
    Bottleneck        1x1 -> 3x3 -> 1x1 (x4 channels) (He et al. 2015, Fig. 5 right)  17 HWC^2 (lecture 004)
                      groups / width for ResNeXt (Xie et al. 2017) and Wide ResNet (Zagoruyko & Komodakis 2016)
    PreActBasic,      BN -> ReLU -> conv ordering    (He et al. 2016, "Identity Mappings in Deep
    PreActBottleneck                                  Residual Networks", Fig. 1b / 4e)
    NormFreeBottleneck the NFNet block: no norm, scaled weight standardization (Brock et al. 2021, Fig. 2)

Shortcuts (He et al. 2015, section 3.3) when the shape changes: ``"A"`` zero-padding identity (no
parameters: subsample by the stride, append zero channels), ``"B"`` projection (1x1 conv + BN, keys
``downsample.0``/``downsample.1`` as torchvision's); ``"C"`` projects in every block. ``residual=False`` removes the shortcut: the
"plain" twin of the same block, identical parameters (Fig. 3 middle, the degradation experiment).

Options shared by every block: squeeze-excite on the residual branch (``se_channels``, Hu et al. 2018,
Fig. 3: after the last BN, before the sum), stochastic depth (``drop_path``: drop the whole residual
branch per sample, Huang et al. 2016), and the stride position of the bottleneck (``stride_in``:
``"1x1"`` the paper's v1, ``"3x3"`` torchvision's "v1.5").
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CnnlabError
from .act import make_activation
from .drop import DropPath
from .se import SqueezeExcite
from .ws_conv import ScaledActivation, ScaledStdConv2d

SHORTCUTS = ("A", "B", "C")
STRIDE_POSITIONS = ("1x1", "3x3")


def conv3x3(in_ch: int, out_ch: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride, 1, groups=groups, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride, 0, bias=False)


class ZeroPadShortcut(nn.Module):
    """Option A shortcut: identity on a ``stride``-subsampled grid, with zero channels appended.

    He et al. 2015, section 3.3 (A): "the shortcut still performs identity mapping, with extra zero
    entries padded for increasing dimensions ... performed with a stride of 2". No parameters.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int):
        super().__init__()
        if out_ch < in_ch:
            raise CnnlabError(
                f"a zero-padding shortcut cannot reduce channels ({in_ch} -> {out_ch})", "use shortcut='B' (projection)"
            )
        self.stride = stride
        self.extra = out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra > 0:
            x = F.pad(x, (0, 0, 0, 0, 0, self.extra))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, zero_channels={self.extra}"


def make_shortcut(kind: str, in_ch: int, out_ch: int, stride: int, norm: bool = True) -> nn.Module | None:
    """The shortcut of a block (He et al. 2015, section 3.3 / Table 3): ``None`` (identity) when the shape
    is unchanged, else option A (zero-padding identity) or B (1x1 projection); option C projects always.

    ``norm=False`` gives a bare 1x1 projection (pre-activation blocks, whose next BN normalizes).
    """
    if kind not in SHORTCUTS:
        raise CnnlabError(
            f"unknown shortcut {kind!r}",
            "use 'A' (zero-padding identity), 'B' (1x1 projection "
            "where the shape changes) or 'C' (1x1 projection in every block)",
        )
    if in_ch == out_ch and stride == 1 and kind != "C":
        return None
    if kind == "A":
        return ZeroPadShortcut(in_ch, out_ch, stride)
    layers: list[nn.Module] = [conv1x1(in_ch, out_ch, stride)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


def _check_stride_in(stride_in: str) -> None:
    if stride_in not in STRIDE_POSITIONS:
        raise CnnlabError(
            f"unknown stride position {stride_in!r}",
            "use stride_in='1x1' (the ResNet paper, v1) or '3x3' (torchvision, v1.5)",
        )


def residual_extras(
    in_ch: int,
    out_ch: int,
    stride: int,
    *,
    shortcut: str,
    residual: bool,
    se_channels: int,
    drop_path: float,
    norm: bool = True,
) -> tuple[nn.Module | None, nn.Module | None, nn.Module]:
    """The parts a block adds around its branch (timm's ``attn_layer``, ``downsample``, ``drop_path``):
    squeeze-excite on the branch (``None``: none), the shortcut projection (``None``: identity, or no
    shortcut at all) and stochastic depth (``Identity`` at rate 0)."""
    se = SqueezeExcite(out_ch, se_channels) if se_channels > 0 else None
    downsample = make_shortcut(shortcut, in_ch, out_ch, stride, norm) if residual else None
    return se, downsample, DropPath(drop_path) if drop_path > 0 else nn.Identity()


class ResidualBlock(nn.Module):
    """What every block of this file shares: ``zero_init_last``. The blocks themselves hold, after
    their own layers, ``se``, ``downsample`` and ``drop_path`` (from :func:`residual_extras`), and
    ``residual`` (``False``: the plain twin, no shortcut). Activations are named by position:
    ``act_pre`` before the branch (pre-activation blocks), ``act_mid`` inside it, ``act_out`` after
    the sum (post-activation blocks)."""

    expansion = 1
    preact = False

    def zero_init_last(self) -> None:
        """Start the residual branch at zero, so the block starts as the identity: the last BN's scale
        (Goyal et al. 2017, "Accurate, Large Minibatch SGD", section 5.1), or the last convolution of a
        pre-activation block."""
        kind = nn.Conv2d if self.preact else nn.BatchNorm2d
        skip = set()
        for extra in (self.downsample, self.se):
            if extra is not None:
                skip.update(id(m) for m in extra.modules())
        last = [m for m in self.modules() if isinstance(m, kind) and id(m) not in skip]
        if last:
            nn.init.zeros_(last[-1].weight)


class _PostActBlock(ResidualBlock):
    """y = act_out(drop_path(se(F(x))) + shortcut(x)) (He et al. 2015, eq. 1-2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.residual_branch(x)
        if self.se is not None:
            out = self.se(out)
        if self.residual:
            out = self.drop_path(out) + shortcut
        return self.act_out(out)


class _PreActBlock(ResidualBlock):
    """h = act_pre(x); y = drop_path(se(F(h))) + shortcut, the shortcut projecting h where the shape
    changes (He et al. 2016, Fig. 1b / 4e): nothing after the sum."""

    preact = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act_pre(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(h)
        out = self.residual_branch(h)
        if self.se is not None:
            out = self.se(out)
        if self.residual:
            out = self.drop_path(out) + shortcut
        return out


class BasicBlock(_PostActBlock):
    """Two 3x3 convolutions, each followed by BN (He et al. 2015, Fig. 5 left). Keys as torchvision's."""

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        residual: bool = True,
        groups: int = 1,
        base_width: int = 64,
        stride_in: str = "3x3",
        se_channels: int = 0,
        drop_path: float = 0.0,
        act: str = "relu",
    ):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise CnnlabError(
                "the basic block has no groups or width option", "use block='bottleneck' for ResNeXt / Wide ResNet"
            )
        _check_stride_in(stride_in)  # both convolutions are 3x3: the stride sits on the first either way
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act_mid = make_activation(act, inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se, self.downsample, self.drop_path = residual_extras(
            in_ch, planes, stride, shortcut=shortcut, residual=residual, se_channels=se_channels, drop_path=drop_path
        )
        self.residual = residual
        self.act_out = make_activation(act, inplace=True)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(self.act_mid(self.bn1(self.conv1(x)))))


def bottleneck_width(planes: int, groups: int, base_width: int) -> int:
    """Channels of the 3x3 convolution: ``planes`` for ResNet, ``groups x d`` for ResNeXt (Xie et al.
    2017, Table 1: 32x4d at planes 64 gives 128), ``2 x planes`` for Wide ResNet-50-2."""
    return int(planes * (base_width / 64.0)) * groups


class Bottleneck(_PostActBlock):
    """1x1 reduce -> 3x3 (grouped for ResNeXt) -> 1x1 expand to 4 x planes (He et al. 2015, Fig. 5 right)."""

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        residual: bool = True,
        groups: int = 1,
        base_width: int = 64,
        stride_in: str = "3x3",
        se_channels: int = 0,
        drop_path: float = 0.0,
        act: str = "relu",
    ):
        super().__init__()
        _check_stride_in(stride_in)
        width = bottleneck_width(planes, groups, base_width)
        out_ch = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in == "1x1" else (1, stride)
        self.conv1 = conv1x1(in_ch, width, s1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, s3, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.act_mid = make_activation(act, inplace=True)
        self.se, self.downsample, self.drop_path = residual_extras(
            in_ch, out_ch, stride, shortcut=shortcut, residual=residual, se_channels=se_channels, drop_path=drop_path
        )
        self.residual = residual
        self.act_out = make_activation(act, inplace=True)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act_mid(self.bn1(self.conv1(x)))
        out = self.act_mid(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class PreActBasic(_PreActBlock):
    """BN -> ReLU -> 3x3 -> BN -> ReLU -> 3x3, nothing after the sum (He et al. 2016, Fig. 1b).

    ``pre_activate=False`` is the first block after the stem, whose BN-ReLU the stem already applied
    (He et al. 2016, section 3.1: "for the first Residual Unit ... we adopt the first activation right
    after conv1 and before splitting into two paths").
    """

    expansion = 1

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        residual: bool = True,
        groups: int = 1,
        base_width: int = 64,
        stride_in: str = "3x3",
        se_channels: int = 0,
        drop_path: float = 0.0,
        act: str = "relu",
        pre_activate: bool = True,
    ):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise CnnlabError("the basic block has no groups or width option", "use block='bottleneck'")
        _check_stride_in(stride_in)
        self.bn1 = nn.BatchNorm2d(in_ch) if pre_activate else nn.Identity()
        self.act_pre = make_activation(act, inplace=False) if pre_activate else nn.Identity()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.se, self.downsample, self.drop_path = residual_extras(
            in_ch,
            planes,
            stride,
            shortcut=shortcut,
            residual=residual,
            se_channels=se_channels,
            drop_path=drop_path,
            norm=False,
        )
        self.residual = residual
        self.act_mid = make_activation(act, inplace=True)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act_mid(self.bn2(self.conv1(x))))


class PreActBottleneck(_PreActBlock):
    """BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (He et al. 2016, Fig. 1b with the bottleneck of 2015)."""

    expansion = 4

    def __init__(
        self,
        in_ch: int,
        planes: int,
        stride: int = 1,
        *,
        shortcut: str = "B",
        residual: bool = True,
        groups: int = 1,
        base_width: int = 64,
        stride_in: str = "3x3",
        se_channels: int = 0,
        drop_path: float = 0.0,
        act: str = "relu",
        pre_activate: bool = True,
    ):
        super().__init__()
        _check_stride_in(stride_in)
        width = bottleneck_width(planes, groups, base_width)
        out_ch = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in == "1x1" else (1, stride)
        self.bn1 = nn.BatchNorm2d(in_ch) if pre_activate else nn.Identity()
        self.act_pre = make_activation(act, inplace=False) if pre_activate else nn.Identity()
        self.conv1 = conv1x1(in_ch, width, s1)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, s3, groups)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_ch)
        self.se, self.downsample, self.drop_path = residual_extras(
            in_ch,
            out_ch,
            stride,
            shortcut=shortcut,
            residual=residual,
            se_channels=se_channels,
            drop_path=drop_path,
            norm=False,
        )
        self.residual = residual
        self.act_mid = make_activation(act, inplace=True)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.conv2(self.act_mid(self.bn2(out)))
        return self.conv3(self.act_mid(self.bn3(out)))


BLOCKS: dict[str, type[ResidualBlock]] = {
    "basic": BasicBlock,
    "bottleneck": Bottleneck,
    "preact_basic": PreActBasic,
    "preact_bottleneck": PreActBottleneck,
}


def drop_path_rates(depths: list[int] | tuple[int, ...], rate: float) -> list[list[float]]:
    """Stochastic-depth rates per block, rising linearly from 0 to ``rate`` at the last block
    (Huang et al. 2016, "Deep Networks with Stochastic Depth", eq. 4, the linear decay rule)."""
    total = sum(depths)
    rates = [rate * i / max(total - 1, 1) for i in range(total)]
    out, start = [], 0
    for d in depths:
        out.append(rates[start : start + d])
        start += d
    return out


def make_stage(
    block: type[ResidualBlock],
    in_ch: int,
    planes: int,
    blocks: int,
    stride: int,
    drop_paths: list[float] | None = None,
    first_kwargs: dict | None = None,
    **block_kwargs,
) -> tuple[nn.Sequential, int]:
    """``blocks`` blocks; the first changes resolution (``stride``) and width. Returns (stage, out channels)."""
    layers = []
    for i in range(blocks):
        kw = dict(block_kwargs)
        if i == 0 and first_kwargs:
            kw.update(first_kwargs)
        layers.append(
            block(in_ch, planes, stride if i == 0 else 1, drop_path=drop_paths[i] if drop_paths else 0.0, **kw)
        )
        in_ch = planes * block.expansion
    return nn.Sequential(*layers), in_ch


class AvgPoolProjection(nn.Module):
    """NFNet's projection shortcut: 2x2 average pooling (when strided), then a 1x1 convolution
    (the "ResNet-D" shortcut, He et al. 2019, "Bag of Tricks", Fig. 2c; Brock et al. 2021, Fig. 2)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, conv: type[nn.Module] = nn.Conv2d, **conv_kwargs):
        super().__init__()
        self.pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
        self.conv = conv(in_ch, out_ch, 1, **conv_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class NormFreeBottleneck(nn.Module):
    """The NFNet block (Brock et al. 2021, Fig. 2 / section 4.1): no normalization anywhere.

        h = act(x) * beta                       beta = 1 / sqrt(expected variance of x)
        shortcut = x, or AvgPool-1x1(h) where the shape changes
        F = 1x1 -> act -> 3x3 (groups of 128 channels) -> act -> 3x3 -> act -> 1x1 -> 2 * SE
        y = shortcut + alpha * F                alpha = 0.2

    Every convolution is a :class:`ScaledStdConv2d`; ``conv3`` starts with gain 0 (the branch starts as
    the identity), or, with ``skipinit=True`` (the DeepMind release), the branch is multiplied by a
    learned scalar ``skipinit_gain`` that starts at 0 (SkipInit, De & Smith 2020). The activations'
    gamma goes into the convolutions (``gamma``, timm's ``nfnet_f*``) or after each activation
    (``act_gamma``, DeepMind). Keys as timm's ``NormFreeBlock``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int = 1,
        *,
        group_size: int = 128,
        bottle_ratio: float = 0.5,
        alpha: float = 0.2,
        beta: float = 1.0,
        attn_gain: float = 2.0,
        se_ratio: float = 0.5,
        act: str = "gelu",
        gamma: float = 1.0,
        act_gamma: float = 1.0,
        eps: float = 1e-5,
        padding: str | None = None,
        skipinit: bool = False,
        drop_path: float = 0.0,
    ):
        super().__init__()
        mid = int(out_ch * bottle_ratio)
        groups = mid // group_size if group_size else 1
        conv = dict(gamma=gamma, eps=eps, padding=padding)
        self.alpha, self.beta, self.attn_gain = alpha, beta, attn_gain

        def activation() -> nn.Module:
            return make_activation(act) if act_gamma == 1.0 else ScaledActivation(make_activation(act), act_gamma)

        self.downsample = (
            AvgPoolProjection(in_ch, out_ch, stride, ScaledStdConv2d, **conv)
            if in_ch != out_ch or stride != 1
            else None
        )
        self.act1 = activation()
        self.conv1 = ScaledStdConv2d(in_ch, mid, 1, **conv)
        self.act2 = activation()
        self.conv2 = ScaledStdConv2d(mid, mid, 3, stride, groups=groups, **conv)
        self.act2b = activation()
        self.conv2b = ScaledStdConv2d(mid, mid, 3, groups=groups, **conv)
        self.act3 = activation()
        self.conv3 = ScaledStdConv2d(mid, out_ch, 1, gain_init=1.0 if skipinit else 0.0, **conv)
        self.attn_last = SqueezeExcite(out_ch, int(out_ch * se_ratio)) if se_ratio > 0 else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.skipinit_gain = nn.Parameter(torch.zeros(())) if skipinit else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(x) * self.beta
        shortcut = x if self.downsample is None else self.downsample(h)
        out = self.conv1(h)
        out = self.conv2(self.act2(out))
        out = self.conv2b(self.act2b(out))
        out = self.conv3(self.act3(out))
        if self.attn_last is not None:
            out = self.attn_gain * self.attn_last(out)
        out = self.drop_path(out)
        if self.skipinit_gain is not None:
            out = out * self.skipinit_gain
        return out * self.alpha + shortcut
