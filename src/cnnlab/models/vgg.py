"""VGG (Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", Table 1, configurations A, B, D, E; lecture 004, "VGGNet": all convs 3x3 stride 1
pad 1, all max pools 2x2 stride 2, channels double after each pool).

The configurations are the paper's columns as lists: a number is a 3x3 conv with that many
filters (+ batch norm for the ``_bn`` forms) + ReLU, ``"M"`` a 2x2/2 max pool. The builder emits
modules in exactly torchvision's order, so the indices of ``features`` (``features.0``,
``features.2``, ...) and torchvision's weight files (``vgg16-397923af.pth``) match unchanged.
"""

from __future__ import annotations

import torch.nn as nn

from .base import PooledMLPClassifier
from .card import ModelCard
from .registry import register_model

# Table 1 of the paper: A = VGG-11, B = VGG-13, D = VGG-16, E = VGG-19
VGG_CONFIGS: dict[int, list] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(PooledMLPClassifier):
    classifier_path = "classifier.6"

    def __init__(
        self, config: list, batch_norm: bool = False, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5
    ):
        super().__init__(num_classes, in_chans)
        layers: list[nn.Module] = []
        ch, stride = in_chans, 1
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                stride *= 2
                self.feature_info.append(dict(channels=ch, reduction=stride, module=f"features.{len(layers) - 1}"))
                continue
            layers.append(nn.Conv2d(ch, v, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            ch = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))  # identity at 224 (the paper's fixed-size head)
        self.classifier = nn.Sequential(
            nn.Linear(ch * 49, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(4096, num_classes),
        )
        self.num_features = 4096


PAPER = "Simonyan, Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition"


def _card(depth: int, batch_norm: bool, **figures) -> ModelCard:
    """A VGG card. ``figures``: params (torchvision 0.29, = the fixtures), top1/top5 (torchvision docs,
    VGG*_Weights.IMAGENET1K_V1) and macs (conv + linear multiply-adds at 224x224, computed from the table)."""
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")
    departures = (
        "adaptive 7x7 average pool before the head (identity at 224; the paper evaluates larger "
        "images by turning the head into convolutions)",
    )
    if batch_norm:
        departures = ("batch norm after every convolution (torchvision's variant; the paper predates BN)",) + departures
    return ModelCard(
        name=name,
        family="VGG",
        paper=PAPER,
        year=2014,
        source=f"torchvision 0.29 docs ({name}, IMAGENET1K_V1); params = torchvision's; MACs computed "
        f"(conv + linear at 224x224); configuration {'ABDE'[[11, 13, 16, 19].index(depth)]} of "
        f"the paper's Table 1",
        torchvision=name,
        departures=departures,
        **figures,
    )


@register_model(card=_card(11, batch_norm=False, params=132_863_336, macs=7_609_090_048, top1=69.020, top5=88.628))
def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[11], batch_norm=False, **kwargs)


@register_model(card=_card(11, batch_norm=True, params=132_868_840, macs=7_609_090_048, top1=70.370, top5=89.810))
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 with batch norm (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[11], batch_norm=True, **kwargs)


@register_model(card=_card(13, batch_norm=False, params=133_047_848, macs=11_308_466_176, top1=69.928, top5=89.246))
def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[13], batch_norm=False, **kwargs)


@register_model(card=_card(13, batch_norm=True, params=133_053_736, macs=11_308_466_176, top1=71.586, top5=90.374))
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 with batch norm (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[13], batch_norm=True, **kwargs)


@register_model(card=_card(16, batch_norm=False, params=138_357_544, macs=15_470_264_320, top1=71.592, top5=90.382))
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[16], batch_norm=False, **kwargs)


@register_model(card=_card(16, batch_norm=True, params=138_365_992, macs=15_470_264_320, top1=73.360, top5=91.516))
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 with batch norm (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[16], batch_norm=True, **kwargs)


@register_model(card=_card(19, batch_norm=False, params=143_667_240, macs=19_632_062_464, top1=72.376, top5=90.876))
def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[19], batch_norm=False, **kwargs)


@register_model(card=_card(19, batch_norm=True, params=143_678_248, macs=19_632_062_464, top1=74.218, top5=91.842))
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 with batch norm (configuration of Table 1)."""
    return VGG(VGG_CONFIGS[19], batch_norm=True, **kwargs)
