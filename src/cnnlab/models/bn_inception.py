"""BN-Inception, "Inception-v2" of the lectures (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating
Deep Network Training by Reducing Internal Covariate Shift", section 4.2 and Figure 5).

GoogLeNet with batch normalization after every convolution and two changes to the modules (section
4.2, Appendix): each 5x5 convolution becomes two 3x3 ("double 3x3", up to 128 filters), and the grid
shrinks inside modules 3c and 4e (stride-2 3x3 convolutions beside a max pool that passes its input
through) instead of by separate pooling layers. Some modules average-pool, some max-pool.

Figure 5's rows, as ``BN_INCEPTION``: ``#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool,
pool projection`` (0 = no branch / "pass through"). The figure's output-size column says 576 for 4c and
4d and 1024 for 4e, but its branch columns add up to 160+160+160+128 = 608, 96+192+192+128 = 608 and
0+192+256+608 = 1056; the released model (and Cadene's port of it) follows the branch columns, as this
one does, so 5a sees 1056 channels.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..nn.inception import C, ConvBN, Flat, InceptionBlock, Pool
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# (name, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool kind, pool proj, stride)
BN_INCEPTION = [
    ("inception_3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("inception_3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("inception_3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("inception_4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("inception_4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("inception_4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("inception_4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("inception_4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("inception_5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("inception_5b", 352, 192, 320, 192, 224, "max", 128, 1),
]


def bn_inception_block(c1: int, c3r: int, c3: int, d3r: int, d3: int, pool: str, proj: int, stride: int) -> list:
    """One row of Figure 5 as a branch table for :class:`InceptionBlock`."""
    branches = []
    if c1:
        branches.append(Flat([("branch1x1", C(c1))]))
    branches.append(Flat([("branch3x3_1", C(c3r)), ("branch3x3_2", C(c3, 3, stride, 1))]))
    branches.append(
        Flat([("branch3x3dbl_1", C(d3r)), ("branch3x3dbl_2", C(d3, 3)), ("branch3x3dbl_3", C(d3, 3, stride, 1))])
    )
    if stride == 2:  # max pool, "pass through": the input's channels at half the size
        branches.append(Flat([("pool", Pool("max", 3, 2, 0, ceil=True))]))
    else:
        p = Pool("max", 3, 1, 1) if pool == "max" else Pool("avg", 3, 1, 1)
        branches.append(Flat([("pool", p), ("branch_pool", C(proj))]))
    return branches


class BNInception(Classifier):
    """Stem (7x7/2 conv, 3x3/2 max pool, 1x1 64 and 3x3 192 convs, 3x3/2 max pool), ten modules, global
    average pool, fc. Every convolution is conv -> BN -> ReLU (``ConvBN``, eps 1e-5 as the paper's Caffe)."""

    classifier_path = "fc"
    first_conv = "conv1.conv"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__(num_classes, in_chans)
        self.conv1 = ConvBN(in_chans, 64, 7, 2, 3, eps=1e-5)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2_reduce = ConvBN(64, 64, 1, eps=1e-5)
        self.conv2 = ConvBN(64, 192, 3, 1, 1, eps=1e-5)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.stages = ["conv1", "pool1", "conv2_reduce", "conv2", "pool2"]
        ch, reduction = 192, 8
        self.feature_info = [
            dict(channels=64, reduction=2, module="conv1"),
            dict(channels=192, reduction=4, module="conv2"),
        ]
        prev = "conv2"
        for name, *row in BN_INCEPTION:
            if row[-1] == 2:  # the grid halves inside this module: the last full-size output is a feature level
                if prev != "conv2":
                    self.feature_info.append(dict(channels=ch, reduction=reduction, module=prev))
                reduction *= 2
            block = InceptionBlock(ch, bn_inception_block(*row), eps=1e-5)
            self.add_module(name, block)
            self.stages.append(name)
            ch, prev = block.out_channels, name
        self.feature_info.append(dict(channels=ch, reduction=reduction, module=prev))
        self.num_features = ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop_rate = drop_rate
        self.fc = nn.Linear(ch, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stages:
            x = self._modules[name](x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        if self.drop_rate > 0:
            x = nn.functional.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.fc(x)


@register_model(
    card=ModelCard(
        name="bn_inception",
        family="Inception",
        year=2015,
        input_size=(3, 224, 224),
        paper="Ioffe, Szegedy: Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate "
        "Shift (ICML 2015, arXiv:1502.03167)",
        params=11_285_224,
        macs=2_032_600_064,
        top1=74.8,
        source="params, MACs: computed from Figure 5 (the paper gives none); top-1: BN-x30, the best single network "
        "of section 4.2.2 (74.8% max validation accuracy, single crop)",
        departures=(
            "modules 4c, 4d and 4e output 608, 608 and 1056 channels, the sums of Figure 5's branch columns "
            "(its output column says 576, 576, 1024), as the released model",
            "convolutions without bias (batch norm follows each); the released Caffe model has biases",
            "max pools in ceil mode (Caffe's rounding), so 224 -> 112 -> 56 -> 28 -> 14 -> 7",
        ),
        notes="also called Inception-v2 (lecture 001: 'Inception-BN (v2) - add batch normalization'); option: drop_rate",
    )
)
def bn_inception(**kwargs) -> BNInception:
    return BNInception(**kwargs)
