"""The CIFAR-10 ResNets of He et al. 2015, section 4.2, and their plain (shortcut-free) twins.

    "The first layer is 3x3 convolutions. Then we use a stack of 6n layers with 3x3 convolutions on
    the feature maps of sizes {32, 16, 8} respectively, with 2n layers for each feature map size. The
    numbers of filters are {16, 32, 64} respectively. The subsampling is performed by convolutions
    with a stride of 2. The network ends with a global average pooling, a 10-way fully-connected
    layer, and softmax. There are totally 6n+2 stacked weighted layers."

    output map size   32x32   16x16   8x8
    # layers          1+2n    2n      2n
    # filters         16      32      64

Shortcuts are identities, option A (zero-padding) where the width grows, so a ResNet and its plain
twin have exactly the same parameters (Fig. 6: plain-20..56 get worse with depth, ResNet-20..110 better).
Parameter counts (section 4.2, Table 6): 0.27M, 0.46M, 0.66M, 0.85M, 1.7M for n = 3, 5, 7, 9, 18.

``block="bottleneck"`` builds the bottleneck form of He et al. 2016 ("Identity Mappings in Deep
Residual Networks", section 4: ResNet-164 on CIFAR): 1x1-3x3-1x1 blocks of 16/32/64 bottleneck
filters and 64/128/256 outputs, 9n+2 layers. A bottleneck block costs about what a basic block of
the same bottleneck width costs (4,352 vs 4,608 multiply-adds per pixel and 16 input channels), so
``CifarResNet(83, block="bottleneck")`` is ResNet-56's cost (n = 9) with 3 layers per block.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn.residual import BasicBlock, Bottleneck, drop_path_rates, make_stage
from .card import ModelCard
from .registry import register_model
from .resnet import ResNetHead

# He et al. 2015, section 4.2: filters of the three stages; depth 6n + 2.
CIFAR_WIDTHS = (16, 32, 64)
# Table 6: depth -> (n, reported test error % (best of 5 runs; ResNet-110: best 6.43, mean 6.61), params).
CIFAR_DEPTHS = {
    20: (3, 8.75, 0.27e6),
    32: (5, 7.51, 0.46e6),
    44: (7, 7.17, 0.66e6),
    56: (9, 6.97, 0.85e6),
    110: (18, 6.43, 1.7e6),
}

BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class CifarResNet(ResNetHead):
    """ResNet-(6n+2) for 32x32 images; ``residual=False`` is the plain network of the same depth."""

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        in_chans: int = 3,
        residual: bool = True,
        shortcut: str = "A",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
        block: str = "basic",
    ):
        super().__init__(num_classes, in_chans)
        if block not in BLOCKS:
            raise CnnlabError(f"unknown CIFAR ResNet block {block!r}", "use block='basic' or 'bottleneck'")
        per_block = 2 if block == "basic" else 3
        if depth < 3 * per_block + 2 or (depth - 2) % (3 * per_block):
            form = "6n+2 (20, 32, 44, 56, 110, ...)" if block == "basic" else "9n+2 (29, 56, 83, 164, ...)"
            raise CnnlabError(
                f"a CIFAR ResNet with {block} blocks has depth {form}, got {depth}",
                f"pick a depth of the form {form.split()[0]}",
            )
        n = (depth - 2) // (3 * per_block)
        self.depth, self.residual = depth, residual
        self.drop_path_rate = drop_path_rate
        self.conv1 = nn.Conv2d(in_chans, CIFAR_WIDTHS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(CIFAR_WIDTHS[0])
        self.relu = nn.ReLU(inplace=True)
        rates = drop_path_rates([n] * 3, drop_path_rate)
        ch, reduction = CIFAR_WIDTHS[0], 1
        for i, planes in enumerate(CIFAR_WIDTHS):
            stride = 1 if i == 0 else 2
            reduction *= stride
            stage, ch = make_stage(BLOCKS[block], ch, planes, n, stride, rates[i], shortcut=shortcut, residual=residual)
            self.add_module(f"layer{i + 1}", stage)
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"layer{i + 1}"))
        self._make_head(ch, num_classes, drop_rate)
        self._init_weights(zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        return self.layer3(x)


def _build(depth: int, residual: bool, block: str = "basic", **kwargs) -> CifarResNet:
    """A registered ``resnetN`` / ``plainN``: n = (N-2)/6 blocks per stage; ``block="bottleneck"`` keeps n
    and makes every block a bottleneck of the same width (9n+2 layers, about the same multiply-adds)."""
    n = (depth - 2) // 6
    return CifarResNet(depth if block == "basic" else 9 * n + 2, residual=residual, block=block, **kwargs)


_PAPER = "He, Zhang, Ren, Sun: Deep Residual Learning for Image Recognition (CVPR 2016, arXiv:1512.03385)"
# Multiply-adds at 32x32, computed from the layer table (the paper reports none for CIFAR).
_MACS = {20: 40_551_040, 32: 68_862_592, 44: 97_174_144, 56: 125_485_696, 110: 252_887_680}


def _card(depth: int, plain: bool = False) -> ModelCard:
    """The card of ``resnet{depth}`` (or its plain twin): figures from Table 6 (``CIFAR_DEPTHS``)."""
    n, err, params = CIFAR_DEPTHS[depth]
    if plain:
        accuracy = "accuracy: the paper plots plain nets (Fig. 6) without a table"
        shortcuts = f"no shortcuts (the plain twin of resnet{depth})"
    else:
        accuracy = f"accuracy: Table 6, {err}% test error" + (" (best of 5; mean 6.61)" if depth == 110 else "")
        shortcuts = "option-A zero-padding shortcuts (shortcut='B' for projections)"
    return ModelCard(
        name=f"{'plain' if plain else 'resnet'}{depth}",
        family="ResNet (CIFAR)",
        paper=_PAPER,
        year=2015,
        input_size=(3, 32, 32),
        num_classes=10,
        params=int(params),
        macs=_MACS[depth],
        dataset="CIFAR-10",
        top1=None if plain else round(100 - err, 2),
        source="params: He et al. 2015, section 4.2 / Table 6 (rounded); MACs: computed; " + accuracy,
        notes=f"n = {n}: 3 stages x {n} basic blocks of 16/32/64 filters; " + shortcuts,
    )


@register_model(card=_card(20))
def resnet20(**kwargs) -> CifarResNet:
    return _build(20, residual=True, **kwargs)


@register_model(card=_card(20, plain=True))
def plain20(**kwargs) -> CifarResNet:
    return _build(20, residual=False, **kwargs)


@register_model(card=_card(32))
def resnet32(**kwargs) -> CifarResNet:
    return _build(32, residual=True, **kwargs)


@register_model(card=_card(32, plain=True))
def plain32(**kwargs) -> CifarResNet:
    return _build(32, residual=False, **kwargs)


@register_model(card=_card(44))
def resnet44(**kwargs) -> CifarResNet:
    return _build(44, residual=True, **kwargs)


@register_model(card=_card(44, plain=True))
def plain44(**kwargs) -> CifarResNet:
    return _build(44, residual=False, **kwargs)


@register_model(card=_card(56))
def resnet56(**kwargs) -> CifarResNet:
    return _build(56, residual=True, **kwargs)


@register_model(card=_card(56, plain=True))
def plain56(**kwargs) -> CifarResNet:
    return _build(56, residual=False, **kwargs)


@register_model(card=_card(110))
def resnet110(**kwargs) -> CifarResNet:
    return _build(110, residual=True, **kwargs)


@register_model(card=_card(110, plain=True))
def plain110(**kwargs) -> CifarResNet:
    return _build(110, residual=False, **kwargs)
