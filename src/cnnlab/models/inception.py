"""Inception-v3 (Szegedy, Vanhoucke, Ioffe, Shlens, Wojna 2015, "Rethinking the Inception
Architecture for Computer Vision", Table 1 and Figures 5, 6, 7, 10).

The principles of section 2 and 3 read off the block tables below: 5x5 becomes two 3x3
(``inception_a``, Fig. 5), n x n becomes 1 x n then n x 1 (``inception_c``, Fig. 6, n = 7), the
coarsest grid forks its 3x3 into a 1x3 and a 3x1 half (``inception_e``, Fig. 7), and the grid
shrinks by a stride-2 conv branch beside a pool branch (``inception_b``/``inception_d``, Fig. 10).

Keys and layout are torchvision's ``inception_v3`` (``Mixed_5b.branch5x5_2.conv.weight``, ...), so
``inception_v3_google-0cc3c7bd.pth`` loads; timm's ``inception_v3`` has the same keys. The
torchvision weights expect its hidden ``transform_input``: loading a torchvision file folds it into
the first convolution (exact here: that convolution has no padding), so inputs are the usual
ImageNet-normalised images. ``aux_logits=True`` adds the auxiliary classifier on the 17x17 grid
(section 4); in training mode the forward then returns ``InceptionOutputs(logits, aux_logits)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn.inception import C, ConvBN, Flat, InceptionBlock, Pool
from .base import AuxHeadsClassifier
from .card import ModelCard
from .registry import register_model
from .weights import TORCHVISION_TRANSFORM_INPUT, fold_input_affine

AVG = Pool("avg", 3, 1, 1)
MAX = Pool("max", 3, 2)


def inception_a(pool_features: int) -> list:  # Fig. 5: 35x35 grid
    return [
        Flat([("branch1x1", C(64))]),
        Flat([("branch5x5_1", C(48)), ("branch5x5_2", C(64, 5))]),
        Flat([("branch3x3dbl_1", C(64)), ("branch3x3dbl_2", C(96, 3)), ("branch3x3dbl_3", C(96, 3))]),
        Flat([("pool", AVG), ("branch_pool", C(pool_features))]),
    ]


def inception_b() -> list:  # Fig. 10: 35x35 -> 17x17
    return [
        Flat([("branch3x3", C(384, 3, 2))]),
        Flat([("branch3x3dbl_1", C(64)), ("branch3x3dbl_2", C(96, 3)), ("branch3x3dbl_3", C(96, 3, 2))]),
        Flat([("pool", MAX)]),
    ]


def inception_c(c7: int) -> list:  # Fig. 6 with n = 7: 17x17 grid
    return [
        Flat([("branch1x1", C(192))]),
        Flat([("branch7x7_1", C(c7)), ("branch7x7_2", C(c7, (1, 7))), ("branch7x7_3", C(192, (7, 1)))]),
        Flat(
            [
                ("branch7x7dbl_1", C(c7)),
                ("branch7x7dbl_2", C(c7, (7, 1))),
                ("branch7x7dbl_3", C(c7, (1, 7))),
                ("branch7x7dbl_4", C(c7, (7, 1))),
                ("branch7x7dbl_5", C(192, (1, 7))),
            ]
        ),
        Flat([("pool", AVG), ("branch_pool", C(192))]),
    ]


def inception_d() -> list:  # 17x17 -> 8x8
    return [
        Flat([("branch3x3_1", C(192)), ("branch3x3_2", C(320, 3, 2))]),
        Flat(
            [
                ("branch7x7x3_1", C(192)),
                ("branch7x7x3_2", C(192, (1, 7))),
                ("branch7x7x3_3", C(192, (7, 1))),
                ("branch7x7x3_4", C(192, 3, 2)),
            ]
        ),
        Flat([("pool", MAX)]),
    ]


def inception_e() -> list:  # Fig. 7: 8x8 grid, forked 1x3 | 3x1 halves
    return [
        Flat([("branch1x1", C(320))]),
        Flat([("branch3x3_1", C(384)), [("branch3x3_2a", C(384, (1, 3))), ("branch3x3_2b", C(384, (3, 1)))]]),
        Flat(
            [
                ("branch3x3dbl_1", C(448)),
                ("branch3x3dbl_2", C(384, 3)),
                [("branch3x3dbl_3a", C(384, (1, 3))), ("branch3x3dbl_3b", C(384, (3, 1)))],
            ]
        ),
        Flat([("pool", AVG), ("branch_pool", C(192))]),
    ]


# Table 1 of the paper: the stem (conv rows), then 3 x Fig. 5, 5 x Fig. 6 (first one reducing),
# 2 x Fig. 7 (first one reducing). (name, out, kernel, stride, pad) | "M" | (name, block table)
INCEPTION_V3 = [
    ("Conv2d_1a_3x3", 32, 3, 2, 0),
    ("Conv2d_2a_3x3", 32, 3, 1, 0),
    ("Conv2d_2b_3x3", 64, 3, 1, 1),
    "maxpool1",
    ("Conv2d_3b_1x1", 80, 1, 1, 0),
    ("Conv2d_4a_3x3", 192, 3, 1, 0),
    "maxpool2",
    ("Mixed_5b", inception_a(32)),
    ("Mixed_5c", inception_a(64)),
    ("Mixed_5d", inception_a(64)),
    ("Mixed_6a", inception_b()),
    ("Mixed_6b", inception_c(128)),
    ("Mixed_6c", inception_c(160)),
    ("Mixed_6d", inception_c(160)),
    ("Mixed_6e", inception_c(192)),
    "aux",
    ("Mixed_7a", inception_d()),
    ("Mixed_7b", inception_e()),
    ("Mixed_7c", inception_e()),
]


class InceptionOutputs(NamedTuple):
    logits: torch.Tensor
    aux_logits: torch.Tensor | None


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17x17 grid: 5x5/3 average pool, 1x1 conv 128, 5x5 conv 768, fc."""

    def __init__(self, in_ch: int, num_classes: int):
        super().__init__()
        self.conv0 = ConvBN(in_ch, 128, 1)
        self.conv1 = ConvBN(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception3(AuxHeadsClassifier):
    classifier_path = "fc"
    first_conv = "Conv2d_1a_3x3.conv"
    aux_loss_weight = 0.4  # the auxiliary loss weight of torchvision's reference Inception-v3 training

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, aux_logits: bool = False, drop_rate: float = 0.5):
        super().__init__(num_classes, in_chans)
        self.aux_logits = aux_logits
        self.stages: list[str] = []
        ch, stride = in_chans, 1
        for row in INCEPTION_V3:
            if row == "aux":
                if aux_logits:
                    self.AuxLogits = InceptionAux(ch, num_classes)
                continue
            if isinstance(row, str):
                self.add_module(row, nn.MaxPool2d(3, 2))
                stride *= 2
            elif len(row) == 5:
                name, out, k, s, p = row
                self.add_module(name, ConvBN(ch, out, k, s, p))
                ch, stride = out, stride * s
            else:
                name, table = row
                block = InceptionBlock(ch, table)
                self.add_module(name, block)
                stride *= 2 if name in ("Mixed_6a", "Mixed_7a") else 1
                ch = block.out_channels
            self.stages.append(row if isinstance(row, str) else row[0])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        self.num_features = ch
        self.feature_info = [
            dict(channels=64, reduction=2, module="Conv2d_2b_3x3"),
            dict(channels=192, reduction=4, module="Conv2d_4a_3x3"),
            dict(channels=288, reduction=8, module="Mixed_5d"),
            dict(channels=768, reduction=16, module="Mixed_6e"),
            dict(channels=2048, reduction=32, module="Mixed_7c"),
        ]

    def _features(self, x: torch.Tensor, with_aux: bool):
        aux = None
        for name in self.stages:
            x = self._modules[name](x)
            if with_aux and name == "Mixed_6e":
                aux = self.AuxLogits(x)
        return x, aux

    def _forward_with_aux(self, x: torch.Tensor) -> InceptionOutputs:
        x, aux = self._features(x, True)
        return InceptionOutputs(self.forward_head(x), aux)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier, and the auxiliary head's with it (dropped at 0)."""
        super().reset_classifier(num_classes, global_pool)
        if self.aux_logits:
            fc = self.AuxLogits.fc
            self.AuxLogits.fc = nn.Linear(768, num_classes, device=fc.weight.device) if num_classes else nn.Identity()

    def convert_weights(self, sd: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        """Drop the file's AuxLogits unless this model has them; fold torchvision's transform_input
        into the first convolution (scale into the weights, shift into the batch norm's mean)."""
        if not self.aux_logits:
            sd = {k: v for k, v in sd.items() if not k.startswith("AuxLogits.")}
        w = sd.get("Conv2d_1a_3x3.conv.weight")
        if source == "torchvision" and w is not None and w.dim() == 4 and w.shape[1] == 3:
            sd = fold_input_affine(sd, "Conv2d_1a_3x3.conv", "Conv2d_1a_3x3.bn", *TORCHVISION_TRANSFORM_INPUT)
        return sd


@register_model(
    card=ModelCard(
        name="inception_v3",
        family="Inception",
        paper="Szegedy et al., Rethinking the Inception Architecture for Computer Vision",
        year=2015,
        input_size=(3, 299, 299),
        params=23_834_568,
        macs=5_713_216_096,
        top1=77.294,
        top5=93.450,
        source="torchvision 0.29 docs (Inception_V3_Weights.IMAGENET1K_V1: acc@1 77.294, acc@5 93.450; the paper's "
        "Table 3 reports 21.2% top-1 / 5.6% top-5 error, single crop); params = torchvision's without the "
        "auxiliary head (27,161,264 with it); MACs computed (conv + linear at 299x299)",
        torchvision="inception_v3",
        timm="inception_v3",
        departures=(
            "no hidden transform_input: loading a torchvision file folds it into the first convolution",
            "auxiliary head off by default (aux_logits=True adds it; torchvision's file carries its weights)",
        ),
        notes="timm's own Inception-v3 weights (Hugging Face hub files) are loaded without folding: they expect "
        "inputs normalised with mean = std = 0.5 per channel",
    )
)
def inception_v3(**kwargs) -> Inception3:
    return Inception3(**kwargs)
