"""Inception-v4 and Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke, Alemi 2016, "Inception-v4,
Inception-ResNet and the Impact of Residual Connections on Learning", Figures 3-9 and 15-18;
lecture 004, "Inception-v4: Resnet + Inception").

Each block is its figure written as a branch table (``cnnlab.nn.inception``); each network is its
overall-schema figure (Fig. 9 and Fig. 15) written as a list of (repeats, block) rows. Keys and
counts are timm's ``inception_v4`` (42,679,816 parameters) and ``inception_resnet_v2``
(55,843,464), so timm weight files load unchanged (``cnnlab.load_weights`` unwraps timm's
checkpoints and EMA copies). timm's weights for both expect the "inception" normalisation
(mean = std = 0.5 per channel), not the ImageNet mean/std.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..nn.inception import C, ConvBN, Flat, InceptionBlock, InceptionResidual, Pool, Seq
from .base import Classifier
from .card import ModelCard
from .registry import register_model

AVG = Pool("avg", 3, 1, 1, count_include_pad=False)
MAX = Pool("max", 3, 2)

# -- Inception-v4 blocks ---------------------------------------------------------------------
# Fig. 3 (stem), split into its three concatenations
MIXED_3A = [Flat([("maxpool", MAX)]), Seq("conv", [C(96, 3, 2)])]
MIXED_4A = [
    Seq("branch0", [C(64), C(96, 3, 1, 0)]),
    Seq("branch1", [C(64), C(64, (1, 7)), C(64, (7, 1)), C(96, 3, 1, 0)]),
]
MIXED_5A = [Seq("conv", [C(192, 3, 2)]), Flat([("maxpool", MAX)])]
# Fig. 4: Inception-A (35x35)
INCEPTION_A = [
    Seq("branch0", [C(96)]),
    Seq("branch1", [C(64), C(96, 3)]),
    Seq("branch2", [C(64), C(96, 3), C(96, 3)]),
    Seq("branch3", [AVG, C(96)]),
]
# Fig. 7: Reduction-A with k, l, m, n = 192, 224, 256, 384 (Table 1)
REDUCTION_A = [
    Seq("branch0", [C(384, 3, 2)]),
    Seq("branch1", [C(192), C(224, 3), C(256, 3, 2)]),
    Flat([("branch2", MAX)]),
]
# Fig. 5: Inception-B (17x17)
INCEPTION_B = [
    Seq("branch0", [C(384)]),
    Seq("branch1", [C(192), C(224, (1, 7)), C(256, (7, 1))]),
    Seq("branch2", [C(192), C(192, (7, 1)), C(224, (1, 7)), C(224, (7, 1)), C(256, (1, 7))]),
    Seq("branch3", [AVG, C(128)]),
]
# Fig. 8: Reduction-B
REDUCTION_B = [
    Seq("branch0", [C(192), C(192, 3, 2)]),
    Seq("branch1", [C(256), C(256, (1, 7)), C(320, (7, 1)), C(320, 3, 2)]),
    Flat([("branch2", MAX)]),
]
# Fig. 6: Inception-C (8x8), forked 1x3 | 3x1 halves
INCEPTION_C = [
    Seq("branch0", [C(256)]),
    Flat([("branch1_0", C(384)), [("branch1_1a", C(256, (1, 3))), ("branch1_1b", C(256, (3, 1)))]]),
    Flat(
        [
            ("branch2_0", C(384)),
            ("branch2_1", C(448, (3, 1))),
            ("branch2_2", C(512, (1, 3))),
            [("branch2_3a", C(256, (1, 3))), ("branch2_3b", C(256, (3, 1)))],
        ]
    ),
    Seq("branch3", [AVG, C(256)]),
]

# Fig. 9: the whole network. (repeats, block table) rows after the three stem convolutions.
STEM_CONVS = [C(32, 3, 2), C(32, 3, 1, 0), C(64, 3, 1, 1)]
INCEPTION_V4 = [
    (1, MIXED_3A),
    (1, MIXED_4A),
    (1, MIXED_5A),
    (4, INCEPTION_A),
    (1, REDUCTION_A),
    (7, INCEPTION_B),
    (1, REDUCTION_B),
    (3, INCEPTION_C),
]


class InceptionV4(Classifier):
    classifier_path = "last_linear"
    first_conv = "features.0.conv"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__(num_classes, in_chans)
        layers: list[nn.Module] = []
        ch = in_chans
        for step in STEM_CONVS:
            layers.append(ConvBN(ch, step.out, step.k, step.s, step.padding()))
            ch = step.out
        for repeats, table in INCEPTION_V4:
            for _ in range(repeats):
                layers.append(InceptionBlock(ch, table))
                ch = layers[-1].out_channels
        self.features = nn.Sequential(*layers)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.last_linear = nn.Linear(ch, num_classes)
        self.num_features = ch
        self.feature_info = [
            dict(channels=64, reduction=2, module="features.2"),
            dict(channels=160, reduction=4, module="features.3"),
            dict(channels=384, reduction=8, module="features.9"),
            dict(channels=1024, reduction=16, module="features.17"),
            dict(channels=1536, reduction=32, module="features.21"),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.global_pool(x), 1))
        return x if pre_logits else self.last_linear(x)


# -- Inception-ResNet-v2 blocks ---------------------------------------------------------------
# Fig. 16 (35x35 residual block; the 1x1 "conv2d" projection and the scale are InceptionResidual's)
BLOCK35 = [Seq("branch0", [C(32)]), Seq("branch1", [C(32), C(32, 3)]), Seq("branch2", [C(32), C(48, 3), C(64, 3)])]
# Fig. 17 (17x17) and Fig. 19 (8x8)
BLOCK17 = [Seq("branch0", [C(192)]), Seq("branch1", [C(128), C(160, (1, 7)), C(192, (7, 1))])]
BLOCK8 = [Seq("branch0", [C(192)]), Seq("branch1", [C(192), C(224, (1, 3)), C(256, (3, 1))])]
# the 35x35 entry block after the stem (timm's mixed_5b), Reduction-A with k, l, m, n = 256, 256, 384, 384
# (Table 1) and Fig. 18 (Reduction-B)
MIXED_5B = [
    Seq("branch0", [C(96)]),
    Seq("branch1", [C(48), C(64, 5)]),
    Seq("branch2", [C(64), C(96, 3), C(96, 3)]),
    Seq("branch3", [AVG, C(64)]),
]
MIXED_6A = [Seq("branch0", [C(384, 3, 2)]), Seq("branch1", [C(256), C(256, 3), C(384, 3, 2)]), Flat([("branch2", MAX)])]
MIXED_7A = [
    Seq("branch0", [C(256), C(384, 3, 2)]),
    Seq("branch1", [C(256), C(288, 3, 2)]),
    Seq("branch2", [C(256), C(288, 3), C(320, 3, 2)]),
    Flat([("branch3", MAX)]),
]

# Fig. 15: (module name, what) in order. Stem rows are convs / pools; ("repeat", n, block, scale) rows
# are n residual blocks with the residual scale of section 3.3.
INCEPTION_RESNET_V2 = [
    ("conv2d_1a", C(32, 3, 2)),
    ("conv2d_2a", C(32, 3, 1, 0)),
    ("conv2d_2b", C(64, 3, 1, 1)),
    ("maxpool_3a", MAX),
    ("conv2d_3b", C(80)),
    ("conv2d_4a", C(192, 3, 1, 0)),
    ("maxpool_5a", MAX),
    ("mixed_5b", MIXED_5B),
    ("repeat", 10, BLOCK35, 0.17),
    ("mixed_6a", MIXED_6A),
    ("repeat_1", 20, BLOCK17, 0.10),
    ("mixed_7a", MIXED_7A),
    ("repeat_2", 9, BLOCK8, 0.20),
    ("block8", 1, BLOCK8, 1.0),  # the last block: no ReLU after the sum
    ("conv2d_7b", C(1536)),
]


class InceptionResNetV2(Classifier):
    classifier_path = "classif"
    first_conv = "conv2d_1a.conv"

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__(num_classes, in_chans)
        ch = in_chans
        self.stages: list[str] = []
        for row in INCEPTION_RESNET_V2:
            name = row[0]
            if isinstance(row[1], Pool):
                module: nn.Module = row[1].build()
            elif isinstance(row[1], C):
                module = ConvBN(ch, row[1].out, row[1].k, row[1].s, row[1].padding())
                ch = row[1].out
            elif len(row) == 2:
                module = InceptionBlock(ch, row[1])
                ch = module.out_channels
            elif name == "block8":
                module = InceptionResidual(ch, row[2], scale=row[3], relu=False)
            else:
                module = nn.Sequential(*[InceptionResidual(ch, row[2], scale=row[3]) for _ in range(row[1])])
            self.add_module(name, module)
            self.stages.append(name)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.classif = nn.Linear(ch, num_classes)
        self.num_features = ch
        self.feature_info = [
            dict(channels=64, reduction=2, module="conv2d_2b"),
            dict(channels=192, reduction=4, module="conv2d_4a"),
            dict(channels=320, reduction=8, module="repeat"),
            dict(channels=1088, reduction=16, module="repeat_1"),
            dict(channels=1536, reduction=32, module="conv2d_7b"),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.stages:
            x = self._modules[name](x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(torch.flatten(self.global_pool(x), 1))
        return x if pre_logits else self.classif(x)


PAPER = (
    "Szegedy, Ioffe, Vanhoucke, Alemi, Inception-v4, Inception-ResNet and the Impact of Residual Connections "
    "on Learning"
)


@register_model(
    card=ModelCard(
        name="inception_v4",
        family="Inception",
        paper=PAPER,
        year=2016,
        input_size=(3, 299, 299),
        params=42_679_816,
        macs=12_253_974_624,
        top1=80.0,
        top5=95.0,
        source="the paper's Table 2 (single crop, single model: top-1 error 20.0%, top-5 5.0%); params = timm's "
        "inception_v4; MACs computed (conv + linear at 299x299)",
        timm="inception_v4",
        departures=(
            "no dropout before the classifier by default (the paper keeps 0.8: drop_rate=0.2)",
            "average pools exclude the padding from the mean (timm's count_include_pad=False)",
        ),
    )
)
def inception_v4(**kwargs) -> InceptionV4:
    return InceptionV4(**kwargs)


@register_model(
    card=ModelCard(
        name="inception_resnet_v2",
        family="Inception",
        paper=PAPER,
        year=2016,
        input_size=(3, 299, 299),
        params=55_843_464,
        macs=13_155_794_016,
        top1=80.1,
        top5=95.1,
        source="the paper's Table 2 (single crop, single model: top-1 error 19.9%, top-5 4.9%); params = timm's "
        "inception_resnet_v2; MACs computed (conv + linear at 299x299)",
        timm="inception_resnet_v2",
        departures=(
            "residual scales 0.17 / 0.10 / 0.20 (the released model's; section 3.3 says 0.1-0.3)",
            "no dropout before the classifier by default (the paper keeps 0.8: drop_rate=0.2)",
        ),
    )
)
def inception_resnet_v2(**kwargs) -> InceptionResNetV2:
    return InceptionResNetV2(**kwargs)
