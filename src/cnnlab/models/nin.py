"""Network in Network (Lin, Chen, Yan 2013, "Network In Network", section 3; lecture 001 "NiN").

Each "mlpconv" layer is a convolution followed by two 1x1 convolutions (a small MLP slid over the
image), all with ReLU; there is no fully connected head: the last mlpconv produces one map per
class and global average pooling turns them into scores (section 3.2).

The ImageNet form: the rows below are the NIN ImageNet model the authors released for Caffe
(conv1 11x11/4 96, conv2 5x5 256, conv3 3x3 384, conv4 3x3 1024, each followed by two 1x1 of the
same width; 3x3/2 max pools; dropout before the last block), which Dive into Deep Learning (d2l,
section 8.3) also follows. The last 1x1 convolution is the classifier (``classifier``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from .base import Classifier
from .card import ModelCard
from .registry import register_model


class MlpConv(NamedTuple):
    out: int
    k: int
    s: int
    p: int


# mlpconv(out, kernel, stride, pad) -> conv k x k + two 1x1 of the same width; "M" = 3x3/2 max pool;
# "D" = dropout. The last mlpconv's final 1x1 maps to the classes (the classifier below).
NIN_IMAGENET = [
    MlpConv(96, 11, 4, 0),
    "M",
    MlpConv(256, 5, 1, 2),
    "M",
    MlpConv(384, 3, 1, 1),
    "M",
    "D",
    MlpConv(1024, 3, 1, 1),
]


def mlpconv(in_ch: int, row: MlpConv, last: bool = False) -> nn.Sequential:
    layers = [
        nn.Conv2d(in_ch, row.out, row.k, row.s, row.p),
        nn.ReLU(inplace=True),
        nn.Conv2d(row.out, row.out, 1),
        nn.ReLU(inplace=True),
    ]
    if not last:
        layers += [nn.Conv2d(row.out, row.out, 1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class NiN(Classifier):
    classifier_path = "classifier"
    head_pools = ()  # no global_pool choice: the classifier (a 1x1 conv) runs before the global pool

    def __init__(self, table: list = NIN_IMAGENET, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.5):
        super().__init__(num_classes, in_chans)
        layers: list[nn.Module] = []
        ch, stride = in_chans, 1
        for i, row in enumerate(table):
            if row == "M":
                layers.append(nn.MaxPool2d(3, 2))
                stride *= 2
                self.feature_info.append(dict(channels=ch, reduction=stride, module=f"features.{len(layers) - 1}"))
            elif row == "D":
                layers.append(nn.Dropout(drop_rate))
            else:
                layers.append(mlpconv(ch, row, last=i == len(table) - 1))
                ch, stride = row.out, stride * row.s
        self.feature_info.append(dict(channels=ch, reduction=stride, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(ch, num_classes, 1)  # the last mlpconv's final 1x1: one map per class
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)  # global average pooling (section 3.2)
        self.num_features = ch

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if not pre_logits:
            x = self.act(self.classifier(x))
        return torch.flatten(self.pool(x), 1)


@register_model(
    card=ModelCard(
        name="nin",
        family="NiN",
        paper="Lin, Chen, Yan, Network In Network",
        year=2013,
        input_size=(3, 224, 224),
        params=7_595_176,
        macs=969_460_864,
        source="params/MACs computed from the layer table (conv multiply-adds at 224x224); the paper reports "
        "CIFAR-10/100, SVHN and MNIST results (CIFAR-10 test error 10.41%, 8.81% with augmentation, Table 1), "
        "no ImageNet accuracy",
        departures=(
            "the ImageNet configuration follows the authors' released Caffe model (the paper describes "
            "the CIFAR networks only)",
            "max pools round down (Caffe rounds up: 27/13/6 instead of 26/12/5)",
            "the classifier conv is followed by ReLU before the global average, as in the released model",
        ),
    )
)
def nin(**kwargs) -> NiN:
    return NiN(**kwargs)
