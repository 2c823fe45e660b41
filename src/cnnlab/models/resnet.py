"""ImageNet ResNets and their widened / grouped / squeeze-excited forms, torchvision-compatible.

    stem    conv1 7x7/2, 64 -> BN -> ReLU -> max pool 3x3/2          (He et al. 2015, Table 1)
    layer1  conv2_x  56x56   planes  64   } blocks per stage from RESNET_DEPTHS; the first block of
    layer2  conv3_x  28x28   planes 128   } layer2..4 halves the resolution, a 1x1 projection
    layer3  conv4_x  14x14   planes 256   } (shortcut B) matches the shape
    layer4  conv5_x   7x7    planes 512   }
    head    global average pool -> fc

State-dict keys and shapes are torchvision's (``conv1``, ``bn1``, ``layer{1-4}.{i}.conv1``...,
``downsample.0/1``, ``fc``), so its weight files load with ``strict=True``; ``se_resnet50`` has timm's
``seresnet50`` keys (``layerN.i.se.fc1/fc2``). The stride of a bottleneck stage sits on the 3x3
convolution (torchvision's "v1.5"); ``stride_in="1x1"`` gives the paper's v1 placement (same keys,
different outputs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CnnlabError
from ..nn import make_divisible
from ..nn.residual import BLOCKS, ResidualBlock, drop_path_rates, make_stage
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# ResNet, He et al. 2015, Table 1: block type and blocks per stage (conv2_x, conv3_x, conv4_x, conv5_x).
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
# Table 1, channels of each stage's 3x3 convolutions ("planes"); a bottleneck stage outputs 4x these.
STAGE_PLANES = (64, 128, 256, 512)
STEM_CHANNELS = 64


@dataclass(frozen=True)
class ResNetVariant:
    """One row of the variants table: depth (Table 1) and the block's cardinality / width / SE."""

    depth: int
    groups: int = 1  # ResNeXt cardinality C
    width_per_group: int = 64  # ResNeXt bottleneck width d; 128 = Wide ResNet's doubled 3x3 width
    se_ratio: float = 0.0  # SENet reduction 1/r


VARIANTS: dict[str, ResNetVariant] = {
    "resnet18": ResNetVariant(18),
    "resnet34": ResNetVariant(34),
    "resnet50": ResNetVariant(50),
    "resnet101": ResNetVariant(101),
    "resnet152": ResNetVariant(152),
    # ResNeXt, Xie et al. 2017, Table 1 / section 5.1: cardinality x bottleneck width "32x4d", "32x8d".
    "resnext50_32x4d": ResNetVariant(50, groups=32, width_per_group=4),
    "resnext101_32x8d": ResNetVariant(101, groups=32, width_per_group=8),
    # Wide ResNet, Zagoruyko & Komodakis 2016, section 5 ("WRN-50-2-bottleneck"): the 3x3 width doubled.
    "wide_resnet50_2": ResNetVariant(50, width_per_group=128),
    "wide_resnet101_2": ResNetVariant(101, width_per_group=128),
    # SENet, Hu et al. 2018, Table 1 (SE-ResNet-50): squeeze-excite with reduction r = 16 in every block.
    "se_resnet50": ResNetVariant(50, se_ratio=1 / 16),
    # SE-ResNeXt, Hu et al. 2018, Table 1 (SE-ResNeXt-50 32x4d) and Table 2: SE blocks in ResNeXt-50/101 32x4d.
    "se_resnext50_32x4d": ResNetVariant(50, groups=32, width_per_group=4, se_ratio=1 / 16),
    "se_resnext101_32x4d": ResNetVariant(101, groups=32, width_per_group=4, se_ratio=1 / 16),
}


class ResNetHead(Classifier):
    """What the ImageNet residual families share: the stem, and after the stages global average pool,
    dropout, linear."""

    classifier_path = "fc"

    def add_imagenet_stem(self, in_chans: int) -> None:
        """conv1 of He et al. 2015, Table 1: 7x7/2 convolution, BN, ReLU, then 3x3/2 max pooling (stride 4)."""
        self.conv1 = nn.Conv2d(in_chans, STEM_CHANNELS, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

    def _make_head(self, num_features: int, num_classes: int, drop_rate: float) -> None:
        self.num_features = num_features
        self.drop_rate = drop_rate
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)

    def _init_weights(self, zero_init_residual: bool = False) -> None:
        """He initialization (He et al. 2015, "Delving Deep into Rectifiers"), BN at identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, ResidualBlock):
                    m.zero_init_last()


def check_block(block: str, allowed: tuple[str, ...]) -> type[ResidualBlock]:
    if block not in allowed:
        raise CnnlabError(f"unknown block {block!r}", f"use one of {', '.join(allowed)}")
    return BLOCKS[block]


class ResNet(ResNetHead):
    """ResNet / ResNeXt / Wide ResNet / SE-ResNet for 224x224 images (any size >= 1 works).

    ``shortcut`` is the paper's option (Table 3: A zero-padding, B projections where the shape changes
    (torchvision's), C projections everywhere); ``residual=False`` removes the shortcuts: the plain
    network of Fig. 4 (plain-18 / plain-34), with exactly the parameters of ``shortcut="A"``.
    """

    def __init__(
        self,
        block: str = "bottleneck",
        layers: tuple[int, ...] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        groups: int = 1,
        width_per_group: int = 64,
        stride_in: str = "3x3",
        se_ratio: float = 0.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
        shortcut: str = "B",
        residual: bool = True,
    ):
        super().__init__(num_classes, in_chans)
        block_cls = check_block(block, ("basic", "bottleneck"))
        if len(layers) != 4:
            raise CnnlabError(f"a ResNet has 4 stages, got layers={tuple(layers)}", "pass four block counts")
        self.drop_path_rate = drop_path_rate
        self.stride_in = stride_in
        self.add_imagenet_stem(in_chans)
        rates = drop_path_rates(layers, drop_path_rate)
        ch, reduction = STEM_CHANNELS, 4
        for i, (planes, n) in enumerate(zip(STAGE_PLANES, layers)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            out_ch = planes * block_cls.expansion
            se = make_divisible(out_ch * se_ratio, 8, round_limit=0.0) if se_ratio > 0 else 0
            stage, ch = make_stage(
                block_cls,
                ch,
                planes,
                n,
                stride,
                rates[i],
                groups=groups,
                base_width=width_per_group,
                stride_in=stride_in,
                se_channels=se,
                shortcut=shortcut,
                residual=residual,
            )
            self.add_module(f"layer{i + 1}", stage)
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"layer{i + 1}"))
        self._make_head(ch, num_classes, drop_rate)
        self._init_weights(zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


def build_resnet(name: str, **kwargs) -> ResNet:
    """The one builder: a row of VARIANTS plus the user's options (which may override the row's
    cardinality and width: ``create_model("resnet50", groups=8, width_per_group=14)`` is ResNeXt-50 8x14d)."""
    v = VARIANTS[name]
    block, layers = RESNET_DEPTHS[v.depth]
    for key, value in (("se_ratio", v.se_ratio), ("groups", v.groups), ("width_per_group", v.width_per_group)):
        kwargs.setdefault(key, value)
    return ResNet(block, layers, **kwargs)


_RESNET = "He, Zhang, Ren, Sun: Deep Residual Learning for Image Recognition (CVPR 2016, arXiv:1512.03385)"
_RESNEXT = "Xie, Girshick, Dollar, Tu, He: Aggregated Residual Transformations for Deep Neural Networks (CVPR 2017)"
_WRN = "Zagoruyko, Komodakis: Wide Residual Networks (BMVC 2016)"
_SENET = "Hu, Shen, Sun: Squeeze-and-Excitation Networks (CVPR 2018, arXiv:1709.01507)"
_V15 = (
    "stride 2 of each downsampling bottleneck is on the 3x3 convolution (torchvision's 'v1.5'); the paper "
    "puts it on the first 1x1: create_model(name, stride_in='1x1')"
)
_TV = "torchvision {0} docs, {1}_Weights.IMAGENET1K_V1: acc@1/acc@5, num_params, GFLOPS (= multiply-adds at 224x224)"

_NOTES = (
    "options: stride_in='1x1'|'3x3', shortcut='A'|'B'|'C' (Table 3), residual=False (the plain network of "
    "Fig. 4), drop_rate, drop_path_rate (stochastic depth), zero_init_residual"
)
_SE = "squeeze-excite widths rounded to multiples of 8 (as timm's)"


def _card(name: str, family: str, *, torchvision: str | None = None, timm: str | None = None, **figures) -> ModelCard:
    """A ResNet-family card: ImageNet at 224x224, the shared options note; ``figures`` are the paper's."""
    return ModelCard(
        name=name,
        family=family,
        input_size=(3, 224, 224),
        torchvision=torchvision,
        timm=timm or name,
        notes=_NOTES,
        **figures,
    )


def _resnet_card(name: str, tv: str, **figures) -> ModelCard:
    """A card whose figures are torchvision's published ones for ``name`` (``tv``: its weight-enum prefix)."""
    family = "ResNeXt" if name.startswith("resnext") else "Wide ResNet" if name.startswith("wide") else "ResNet"
    figures["source"] = _TV.format(name, tv) + figures.get("source", "")
    return _card(name, family, torchvision=name, **figures)


@register_model(
    card=_resnet_card(
        "resnet18",
        "ResNet18",
        paper=_RESNET,
        year=2015,
        params=11_689_512,
        macs=1_810_000_000,
        top1=69.758,
        top5=89.078,
        source="; paper Table 1: 1.8e9 FLOPs",
    )
)
def resnet18(**kwargs) -> ResNet:
    return build_resnet("resnet18", **kwargs)


@register_model(
    card=_resnet_card(
        "resnet34",
        "ResNet34",
        paper=_RESNET,
        year=2015,
        params=21_797_672,
        macs=3_660_000_000,
        top1=73.314,
        top5=91.420,
        source="; paper Table 1: 3.6e9 FLOPs",
    )
)
def resnet34(**kwargs) -> ResNet:
    return build_resnet("resnet34", **kwargs)


@register_model(
    card=_resnet_card(
        "resnet50",
        "ResNet50",
        paper=_RESNET,
        year=2015,
        params=25_557_032,
        macs=4_090_000_000,
        top1=76.130,
        top5=92.862,
        source="; paper Table 1: 3.8e9 FLOPs (v1 stride)",
        departures=(_V15,),
    )
)
def resnet50(**kwargs) -> ResNet:
    return build_resnet("resnet50", **kwargs)


@register_model(
    card=_resnet_card(
        "resnet101",
        "ResNet101",
        paper=_RESNET,
        year=2015,
        params=44_549_160,
        macs=7_800_000_000,
        top1=77.374,
        top5=93.546,
        source="; paper Table 1: 7.6e9 FLOPs (v1 stride)",
        departures=(_V15,),
    )
)
def resnet101(**kwargs) -> ResNet:
    return build_resnet("resnet101", **kwargs)


@register_model(
    card=_resnet_card(
        "resnet152",
        "ResNet152",
        paper=_RESNET,
        year=2015,
        params=60_192_808,
        macs=11_510_000_000,
        top1=78.312,
        top5=94.046,
        source="; paper Table 1: 11.3e9 FLOPs (v1 stride)",
        departures=(_V15,),
    )
)
def resnet152(**kwargs) -> ResNet:
    return build_resnet("resnet152", **kwargs)


@register_model(
    card=_resnet_card(
        "resnext50_32x4d",
        "ResNeXt50_32X4D",
        paper=_RESNEXT,
        year=2016,
        params=25_028_904,
        macs=4_230_000_000,
        top1=77.618,
        top5=93.698,
        departures=(_V15,),
        source="; paper Table 1: 25.0M params, 4.2e9 FLOPs; Table 3: 22.2% top-1 error",
    )
)
def resnext50_32x4d(**kwargs) -> ResNet:
    return build_resnet("resnext50_32x4d", **kwargs)


@register_model(
    card=_resnet_card(
        "resnext101_32x8d",
        "ResNeXt101_32X8D",
        paper=_RESNEXT,
        year=2016,
        params=88_791_336,
        macs=16_410_000_000,
        top1=79.312,
        top5=94.526,
        departures=(_V15,),
    )
)
def resnext101_32x8d(**kwargs) -> ResNet:
    return build_resnet("resnext101_32x8d", **kwargs)


@register_model(
    card=_resnet_card(
        "wide_resnet50_2",
        "Wide_ResNet50_2",
        paper=_WRN,
        year=2016,
        params=68_883_240,
        macs=11_400_000_000,
        top1=78.468,
        top5=94.086,
        departures=(_V15,),
        source="; paper section 5: WRN-50-2-bottleneck 68.9M params, 21.9% top-1 error",
    )
)
def wide_resnet50_2(**kwargs) -> ResNet:
    return build_resnet("wide_resnet50_2", **kwargs)


@register_model(
    card=_resnet_card(
        "wide_resnet101_2",
        "Wide_ResNet101_2",
        paper=_WRN,
        year=2016,
        params=126_886_696,
        macs=22_750_000_000,
        top1=78.848,
        top5=94.284,
        departures=(_V15,),
    )
)
def wide_resnet101_2(**kwargs) -> ResNet:
    return build_resnet("wide_resnet101_2", **kwargs)


@register_model(
    card=_card(
        "se_resnet50",
        "SENet",
        timm="seresnet50",
        paper=_SENET,
        year=2017,
        params=28_088_024,
        macs=3_870_000_000,
        top1=76.71,
        top5=93.38,
        source="Hu et al. 2018, Table 2: SE-ResNet-50 28.1M params, 3.87 GFLOPs (multiply-adds), 23.29% / 6.62% top-1 / "
        "top-5 error (single 224 crop; v1 stride: this v1.5 form has 4.09e9 multiply-adds, stride_in='1x1' "
        "3.87e9); params: timm seresnet50 (28,088,024)",
        departures=(_V15, "squeeze-excite widths rounded to multiples of 8 (as timm's; exact for r = 16 here)"),
    )
)
def se_resnet50(**kwargs) -> ResNet:
    return build_resnet("se_resnet50", **kwargs)


@register_model(
    card=_card(
        "se_resnext50_32x4d",
        "SENet",
        timm="seresnext50_32x4d",
        paper=_SENET,
        year=2017,
        params=27_559_896,
        macs=4_232_994_816,
        top1=79.01,
        top5=94.46,
        source="Hu et al. 2018, Table 2: SE-ResNeXt-50 (32x4d) 4.25 GFLOPs, 20.99% / 5.54% top-1 / top-5 error (single "
        "224 crop); params: timm seresnext50_32x4d (27,559,896); MACs computed (this v1.5 form)",
        departures=(_V15, _SE),
    )
)
def se_resnext50_32x4d(**kwargs) -> ResNet:
    return build_resnet("se_resnext50_32x4d", **kwargs)


@register_model(
    card=_card(
        "se_resnext101_32x4d",
        "SENet",
        timm="seresnext101_32x4d",
        paper=_SENET,
        year=2017,
        params=48_955_416,
        macs=7_974_739_968,
        top1=80.19,
        top5=95.04,
        source="Hu et al. 2018, Table 2: SE-ResNeXt-101 (32x4d) 8.00 GFLOPs, 19.81% / 4.96% top-1 / top-5 error (single "
        "224 crop); params: timm seresnext101_32x4d (48,955,416); MACs computed (this v1.5 form)",
        departures=(_V15, _SE),
    )
)
def se_resnext101_32x4d(**kwargs) -> ResNet:
    return build_resnet("se_resnext101_32x4d", **kwargs)
