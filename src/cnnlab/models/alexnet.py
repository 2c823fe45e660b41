"""AlexNet and ZFNet: five convolutions, three fully connected layers (lecture 004, "AlexNet" table
and "ZFNet"; lecture 001, "AlexNet").

Each network is a table of rows read like the lecture's layer table: ``Conv(out, kernel, stride,
pad, groups)``, ``"M"`` (3x3/2 overlapping max pool, section 3.4 of the AlexNet paper), ``"M1"``
(the same with padding 1, ZFNet's 110 -> 55 and 26 -> 13) and ``"LRN"`` (local response
normalization, ``cnnlab.nn.lrn``). One builder (:class:`AlexNet`) turns a table into
``features`` (the table), ``avgpool`` (adaptive to 6x6: identity at the default size, so the fully
connected head also accepts larger inputs) and ``classifier`` — the layout and indices of
torchvision's ``alexnet``, so its weight file ``alexnet-owt-7be5be79.pth`` loads unchanged.

- ``alexnet``: torchvision's single-tower form (Krizhevsky 2014, "One weird trick for
  parallelizing CNNs"): 64-192-384-256-256 filters, no LRN, no groups; 61,100,840 parameters.
- ``alexnet_original``: the 2012 paper (Krizhevsky, Sutskever, Hinton, Fig. 2 and section 3):
  96-256-384-384-256 filters on 227x227, LRN after conv1 and conv2, the two-GPU split as
  ``groups=2`` on conv2, conv4, conv5 (conv3 reads both towers), dropout on fc6 and fc7;
  60,965,224 parameters.
- ``zfnet``: Zeiler & Fergus 2013 (Fig. 3 and Table 2 model (b), as lecture 004 states it): 7x7/2
  first layer, 512-1024-512 filters in conv3-5, contrast normalisation after pools 1 and 2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn as nn

from ..nn.lrn import paper_lrn
from .base import PooledMLPClassifier
from .card import ModelCard
from .registry import register_model


class Conv(NamedTuple):
    out: int
    k: int
    s: int = 1
    p: int = 0
    groups: int = 1


# torchvision alexnet (One weird trick, 2014): features.0/3/6/8/10 are the convolutions
ALEXNET_OWT = [
    Conv(64, 11, 4, 2),
    "M",
    Conv(192, 5, 1, 2),
    "M",
    Conv(384, 3, 1, 1),
    Conv(256, 3, 1, 1),
    Conv(256, 3, 1, 1),
    "M",
]
# AlexNet 2012, section 3.5 / Fig. 2; lecture 004's table (227 input: (227 - 11) / 4 + 1 = 55 needs
# pad 0 - the lecture's table prints pad 2, which would give 56)
ALEXNET_2012 = [
    Conv(96, 11, 4, 0),
    "LRN",
    "M",
    Conv(256, 5, 1, 2, groups=2),
    "LRN",
    "M",
    Conv(384, 3, 1, 1),
    Conv(384, 3, 1, 1, groups=2),
    Conv(256, 3, 1, 1, groups=2),
    "M",
]
# ZFNet, Zeiler & Fergus 2013, Fig. 3 with Table 2's wider conv3-5 (512, 1024, 512):
# 224 -> conv1 110 -> pool 55 -> conv2 26 -> pool 13 -> conv3-5 13 -> pool 6
ZFNET = [
    Conv(96, 7, 2, 1),
    "M1",
    "LRN",
    Conv(256, 5, 2, 0),
    "M1",
    "LRN",
    Conv(512, 3, 1, 1),
    Conv(1024, 3, 1, 1),
    Conv(512, 3, 1, 1),
    "M",
]

POOL_AFTER = {"M": dict(kernel_size=3, stride=2), "M1": dict(kernel_size=3, stride=2, padding=1)}


def make_features(table: list, in_chans: int) -> tuple[nn.Sequential, list[dict]]:
    """The ``features`` Sequential of a table (conv, ReLU, LRN and pool in table order) and its
    ``feature_info`` (one entry per max pool, with the stride so far)."""
    layers: list[nn.Module] = []
    info: list[dict] = []
    ch, stride = in_chans, 1
    for row in table:
        if isinstance(row, Conv):
            layers += [nn.Conv2d(ch, row.out, row.k, row.s, row.p, groups=row.groups), nn.ReLU(inplace=True)]
            ch, stride = row.out, stride * row.s
        elif row == "LRN":
            layers.append(paper_lrn())
        else:
            layers.append(nn.MaxPool2d(**POOL_AFTER[row]))
            stride *= 2
            info.append(dict(channels=ch, reduction=stride, module=f"features.{len(layers) - 1}"))
    return nn.Sequential(*layers), info


class AlexNet(PooledMLPClassifier):
    """A five-conv table + the 4096-4096-classes head. ``dropout_first=True`` puts each dropout
    before its linear layer (torchvision's order); False puts it after fc6/fc7's ReLU (the paper's)."""

    classifier_path = "classifier.6"

    def __init__(
        self,
        table: list,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.5,
        hidden: int = 4096,
        dropout_first: bool = True,
    ):
        super().__init__(num_classes, in_chans)
        self.features, self.feature_info = make_features(table, in_chans)
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        flat = self.feature_info[-1]["channels"] * 36
        if dropout_first:  # [Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear]
            head = [
                nn.Dropout(drop_rate),
                nn.Linear(flat, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(drop_rate),
                nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True),
            ]
        else:  # [Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear]
            head = [
                nn.Linear(flat, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(drop_rate),
                nn.Linear(hidden, hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(drop_rate),
            ]
        self.classifier = nn.Sequential(*head, nn.Linear(hidden, num_classes))
        self.num_features = hidden


ALEXNET_SOURCE = "torchvision 0.29 docs (AlexNet_Weights.IMAGENET1K_V1: acc@1 56.522, acc@5 79.066)"


@register_model(
    card=ModelCard(
        name="alexnet",
        family="AlexNet",
        paper="Krizhevsky, One weird trick for parallelizing convolutional neural networks (the single-tower AlexNet)",
        year=2014,
        input_size=(3, 224, 224),
        params=61_100_840,
        macs=714_188_480,
        top1=56.522,
        top5=79.066,
        source=ALEXNET_SOURCE + "; MACs: conv + linear multiply-adds at 224x224",
        torchvision="alexnet",
        departures=(
            "64-192-384-256-256 filters, not the 2012 paper's 96-256-384-384-256 (alexnet_original)",
            "no LRN and no two-GPU groups",
            "dropout before fc6 and fc7 (torchvision's order)",
            "adaptive 6x6 average pool before the head, so inputs above 224 work",
        ),
    )
)
def alexnet(**kwargs) -> AlexNet:
    return AlexNet(ALEXNET_OWT, **kwargs)


@register_model(
    card=ModelCard(
        name="alexnet_original",
        family="AlexNet",
        paper="Krizhevsky, Sutskever, Hinton, ImageNet Classification with Deep Convolutional Neural Networks",
        year=2012,
        input_size=(3, 227, 227),
        params=60_965_224,
        macs=724_406_816,
        top1=59.3,
        top5=81.8,
        source="AlexNet paper, Table 2 (1 CNN: top-1 error 40.7%, top-5 18.2%, ILSVRC-2012 "
        "val); params/MACs computed from the layer table (conv + linear multiply-adds at 227x227)",
        departures=(
            "the two GPUs are expressed as groups=2 on conv2, conv4 and conv5 (one device)",
            "227x227 input with no padding in conv1 (the paper's text says 224, which does not give 55)",
            "adaptive 6x6 average pool before the head (identity at 227), so larger inputs work",
        ),
    )
)
def alexnet_original(**kwargs) -> AlexNet:
    return AlexNet(ALEXNET_2012, dropout_first=False, **kwargs)


@register_model(
    card=ModelCard(
        name="zfnet",
        family="ZFNet",
        paper="Zeiler, Fergus, Visualizing and Understanding Convolutional Networks",
        year=2013,
        input_size=(3, 224, 224),
        params=107_627_624,
        macs=2_476_704_896,
        top1=61.7,
        top5=83.6,
        source="Zeiler & Fergus 2013, Table 2 ('1 convnet' of the authors' architecture, val top-1 error 38.3%, "
        "top-5 16.4%; that model has 384-384-256 maps in layers 3-5, the 512-1024-512 variant built here is one "
        "of the paper's architecture changes, reported as slightly better); params/MACs computed from the layer table",
        departures=(
            "contrast normalisation is the AlexNet LRN (k=2, n=5, alpha=1e-4, beta=0.75)",
            "pools 1 and 2 use padding 1 to give the paper's 55 and 13",
            "adaptive 6x6 average pool before the head (identity at 224)",
        ),
    )
)
def zfnet(**kwargs) -> AlexNet:
    return AlexNet(ZFNET, dropout_first=False, **kwargs)
