"""VGG-style networks scaled to 32x32 images, for the lecture experiments (``cnnlab experiment``).

The convolution part is VGG's Table 1 (configurations A, B, D, E = 11, 13, 16, 19 weight layers;
Simonyan & Zisserman 2014) with the widths multiplied by ``width`` (default 1/4: 16-32-64-128-128
filters instead of 64-...-512), so that a CIFAR-10 run takes minutes on a CPU; after the five 2x2
pools a 32x32 image is 1x1, and the three fully connected layers (VGG's 4096-4096-classes) become
``hidden``-``hidden``-classes with dropout before the second and third, as in the paper.
``cifar_convnet4`` is the small four-layer network of AlexNet's ReLU-vs-tanh figure (Krizhevsky et
al. 2012, Fig. 1: "a four-layer convolutional neural network" on CIFAR-10; its layers are not
given, so: three 5x5 conv-pool stages of 32-32-64 filters and one linear layer).

Every swap the experiments make is a constructor argument: ``activation`` (relu, tanh, ...),
``pool`` (max or avg), ``batch_norm``, ``drop_rate``. Parameter counts do not depend on
activation or pooling; batch norm adds 2 x channels per convolution (the conv bias is kept, as in
torchvision's ``vgg*_bn``).
"""

from __future__ import annotations

import torch.nn as nn

from ..errors import CnnlabError
from ..nn import make_activation
from .base import PooledMLPClassifier
from .card import ModelCard
from .registry import register_model

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
# VGG's Table 1 at full width (64 ... 512); "M" = 2x2/2 pool. S: the four-layer AlexNet Fig. 1 net.
CIFAR_VGG_CONFIGS: dict[str, list] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class CifarVGG(PooledMLPClassifier):
    """3x3 conv (+BN) + activation stacks and pools from a VGG configuration, then a 3-layer classifier."""

    classifier_path = "classifier.6"

    def __init__(
        self,
        config: str = "A",
        width: float = 0.25,
        hidden: int = 256,
        batch_norm: bool = True,
        activation: str = "relu",
        pool: str = "max",
        drop_rate: float = 0.5,
        num_classes: int = 10,
        in_chans: int = 3,
    ):
        super().__init__(num_classes, in_chans)
        if config not in CIFAR_VGG_CONFIGS:
            raise CnnlabError(
                f"CifarVGG: unknown configuration {config!r}",
                f"use one of {', '.join(CIFAR_VGG_CONFIGS)} (VGG's Table 1: A=11, B=13, D=16, E=19)",
            )
        if pool not in POOLS:
            raise CnnlabError(f"CifarVGG: unknown pool {pool!r}", "use pool='max' (VGG's) or 'avg'")
        if not width > 0 or hidden < 1:
            raise CnnlabError(f"CifarVGG: width={width}, hidden={hidden}", "use a positive width and hidden size")
        layers: list[nn.Module] = []
        ch, stride = in_chans, 1
        for v in CIFAR_VGG_CONFIGS[config]:
            if v == "M":
                layers.append(POOLS[pool](2, 2, ceil_mode=True))  # any side works; no change at 32x32
                stride *= 2
                self.feature_info.append(dict(channels=ch, reduction=stride, module=f"features.{len(layers) - 1}"))
                continue
            out = max(1, round(v * width))
            layers.append(nn.Conv2d(ch, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(make_activation(activation, inplace=True))
            ch = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # 1x1 already at 32x32; other sizes are averaged
        self.classifier = nn.Sequential(
            nn.Linear(ch, hidden),
            make_activation(activation, inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(hidden, hidden),
            make_activation(activation, inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(hidden, num_classes),
        )
        self.num_features = hidden
        _init(self)


class ConvNet4(PooledMLPClassifier):
    """Three 5x5 conv-activation-pool stages (32, 32, 64 filters) and one linear layer."""

    classifier_path = "classifier.1"

    def __init__(
        self,
        activation: str = "relu",
        pool: str = "max",
        batch_norm: bool = False,
        drop_rate: float = 0.0,
        num_classes: int = 10,
        in_chans: int = 3,
    ):
        super().__init__(num_classes, in_chans)
        if pool not in POOLS:
            raise CnnlabError(f"ConvNet4: unknown pool {pool!r}", "use pool='max' or 'avg'")
        layers: list[nn.Module] = []
        ch = in_chans
        for i, out in enumerate((32, 32, 64)):
            layers.append(nn.Conv2d(ch, out, 5, padding=2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers += [make_activation(activation, inplace=True), POOLS[pool](2, 2)]
            self.feature_info.append(dict(channels=out, reduction=2 ** (i + 1), module=f"features.{len(layers) - 1}"))
            ch = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(4)  # 4x4 already at 32x32
        self.classifier = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(ch * 16, num_classes))
        self.num_features = ch * 16
        _init(self)


def _init(model: nn.Module) -> None:
    """He (fan-out) initialisation for convolutions, N(0, 0.01) for linear layers, zero biases (torchvision's VGG)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def cifar_vgg_params(
    config: str,
    width: float = 0.25,
    hidden: int = 256,
    batch_norm: bool = True,
    num_classes: int = 10,
    in_chans: int = 3,
) -> int:
    """Parameter count from the table (3x3 convs with bias, BN scale+shift, three linear layers)."""
    total, ch = 0, in_chans
    for v in CIFAR_VGG_CONFIGS[config]:
        if v == "M":
            continue
        out = max(1, round(v * width))
        total += 9 * ch * out + out + (2 * out if batch_norm else 0)
        ch = out
    return total + (ch + 1) * hidden + (hidden + 1) * hidden + (hidden + 1) * num_classes


PAPER = "Simonyan, Zisserman: Very Deep Convolutional Networks for Large-Scale Image Recognition (ICLR 2015)"
_DEPTHS = {"A": 11, "B": 13, "D": 16, "E": 19}


def _card(config: str) -> ModelCard:
    """The card of configuration ``config`` (A, B, D, E) at the lecture experiments' 1/4 width."""
    return ModelCard(
        name=f"cifar_vgg{_DEPTHS[config]}",
        family="VGG (CIFAR)",
        paper=PAPER,
        year=2014,
        input_size=(3, 32, 32),
        num_classes=10,
        params=cifar_vgg_params(config),
        dataset="CIFAR-10",
        source=f"configuration {config} of the paper's Table 1 at 1/4 width; params: exact count (no published "
        "figures for this scaled form)",
        departures=(
            "widths x 1/4 (16-128 filters), classifier 256-256-10 on the 1x1 map, batch norm after "
            "every convolution by default (batch_norm=False: the paper's form)",
        ),
        notes="the lecture experiments' VGG: activation=, pool=, batch_norm=, drop_rate=, width=, hidden= swap parts",
    )


@register_model(card=_card("A"))
def cifar_vgg11(**kwargs) -> CifarVGG:
    return CifarVGG("A", **kwargs)


@register_model(card=_card("B"))
def cifar_vgg13(**kwargs) -> CifarVGG:
    return CifarVGG("B", **kwargs)


@register_model(card=_card("D"))
def cifar_vgg16(**kwargs) -> CifarVGG:
    return CifarVGG("D", **kwargs)


@register_model(card=_card("E"))
def cifar_vgg19(**kwargs) -> CifarVGG:
    return CifarVGG("E", **kwargs)


@register_model(
    card=ModelCard(
        name="cifar_convnet4",
        family="VGG (CIFAR)",
        year=2012,
        input_size=(3, 32, 32),
        num_classes=10,
        paper="Krizhevsky, Sutskever, Hinton: ImageNet Classification with Deep Convolutional Neural Networks (NIPS 2012)",
        params=3 * 32 * 25 + 32 + 32 * 32 * 25 + 32 + 32 * 64 * 25 + 64 + 64 * 16 * 10 + 10,
        dataset="CIFAR-10",
        source="Fig. 1's 'four-layer convolutional neural network' on CIFAR-10 (layers not given in the paper); "
        "params: exact count",
        departures=(
            "layer sizes chosen here (3 x [5x5 conv, 2x2 pool] of 32-32-64 filters + linear): the paper does "
            "not list them",
        ),
    )
)
def cifar_convnet4(**kwargs) -> ConvNet4:
    return ConvNet4(**kwargs)
