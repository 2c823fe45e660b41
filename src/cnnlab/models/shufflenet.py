"""ShuffleNet v1 (Zhang et al. 2018) and ShuffleNet V2 (Ma et al. 2018): lecture 001 "ShuffleNet",
lecture 004 "ShuffleNet / ShuffleNetV2".

Both: Conv1 3x3 / s2 (24), MaxPool 3x3 / s2, three stages of units (the first of each with stride
2), global pooling, FC. Their "FLOPs" are multiply-adds.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn import make_divisible
from ..nn.shuffle import ShuffleV1Unit, ShuffleV2Unit
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# -- ShuffleNet v1, Zhang et al. 2018, Table 1 ---------------------------------------------------
SHUFFLENET_STEM = 24  # Conv1 of ShuffleNet 1x
# units per stage (the first with stride 2): Stage2 1+3, Stage3 1+7, Stage4 1+3
SHUFFLENET_V1_REPEATS = (4, 8, 4)
# output channels of Stage2/3/4 for each number of groups g (complexity ~140 MFLOPs for all g)
SHUFFLENET_V1_CHANNELS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
# "ShuffleNet s x" scales the number of filters of 1x by s (Section 4.1); Tables 2 and 5 report
# the complexity (million multiply-adds) and top-1 error:
SHUFFLENET_V1_MFLOPS = {0.25: 13, 0.5: 38, 1.0: 140, 1.5: 292, 2.0: 524}
# Table 1's last row: complexity of 1x for g = 1, 2, 3, 4, 8 (million multiply-adds)
SHUFFLENET_V1_TABLE1_MFLOPS = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}
# Table 2 (classification error %, g = 1, 2, 3, 4, 8) and Table 5 (1.5x, 2x, g = 3):
SHUFFLENET_V1_ERROR = {
    1.0: {1: 33.6, 2: 32.7, 3: 32.6, 4: 32.8, 8: 32.4},
    0.5: {1: 45.1, 2: 44.4, 3: 43.2, 4: 41.6, 8: 42.3},
    0.25: {1: 57.1, 2: 56.8, 3: 55.0, 4: 54.2, 8: 52.7},
    1.5: {3: 28.5},
    2.0: {3: 26.3},
}


# Conv1 width per scale. The paper scales "the number of filters"; the authors' released code
# (megvii-model/ShuffleNet-Series) uses 12 / 24 / 24 / 48 for 0.5x / 1x / 1.5x / 2x, which is what
# reproduces Tables 2 and 5 (0.5x: 38M, 1.5x: 292M, 2x: 524M for g = 3). For 0.25x, 12 reproduces
# Table 2's 13M (24 would give 18M).
SHUFFLENET_V1_STEM = {0.25: 12, 0.5: 12, 1.0: 24, 1.5: 24, 2.0: 48}


def shufflenet_v1_channels(groups: int, scale: float) -> tuple[int, ...]:
    """Conv1 and Stage2-4 widths of ShuffleNet ``scale`` x with ``groups``.

    Stage widths: Table 1 scaled by ``scale`` and rounded to a multiple of ``4 g`` (the bottleneck,
    a quarter of the width, must split into g groups). Conv1: ``SHUFFLENET_V1_STEM`` rounded down
    to a multiple of g (the first unit's branch makes ``out - in`` channels in g groups: g = 8 at
    0.25x/0.5x gets 8).
    """
    stem = SHUFFLENET_V1_STEM.get(scale, make_divisible(SHUFFLENET_STEM * scale, 4))
    stem = max(groups, stem // groups * groups)
    return (stem, *(make_divisible(c * scale, 4 * groups) for c in SHUFFLENET_V1_CHANNELS[groups]))


class ShuffleNetV1(Classifier):
    classifier_path = "fc"

    def __init__(
        self, groups: int = 3, scale: float = 1.0, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0
    ):
        super().__init__(num_classes, in_chans)
        if groups not in SHUFFLENET_V1_CHANNELS:
            raise CnnlabError(
                f"ShuffleNet v1: groups must be one of {sorted(SHUFFLENET_V1_CHANNELS)}, got {groups}",
                "the paper's Table 1 has g = 1, 2, 3, 4, 8",
            )
        if scale <= 0:
            raise CnnlabError(f"ShuffleNet v1: scale must be positive, got {scale}", "the paper uses 0.25 to 2")
        self.groups, self.scale = groups, scale
        stem, *stages = shufflenet_v1_channels(groups, scale)
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        ch, reduction = stem, 4
        for i, (repeats, out) in enumerate(zip(SHUFFLENET_V1_REPEATS, stages)):
            units = [ShuffleV1Unit(ch, out, 2, groups, first_groups=1 if i == 0 else None)]
            units += [ShuffleV1Unit(out, out, 1, groups) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            ch, reduction = out, reduction * 2
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"stage{i + 2}"))
        self.num_features = ch
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        return self.stage4(self.stage3(self.stage2(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.fc(x)


# -- ShuffleNet V2, Ma et al. 2018, Table 5 ------------------------------------------------------
SHUFFLENET_V2_REPEATS = (4, 8, 4)
# scale -> output channels of Conv1, Stage2, Stage3, Stage4, Conv5
SHUFFLENET_V2_CHANNELS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}


class ShuffleNetV2(Classifier):
    classifier_path = "fc"

    def __init__(self, scale: float = 1.0, num_classes: int = 1000, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__(num_classes, in_chans)
        if scale not in SHUFFLENET_V2_CHANNELS:
            raise CnnlabError(
                f"ShuffleNet V2: scale must be one of {sorted(SHUFFLENET_V2_CHANNELS)}, got {scale}",
                "Table 5 of Ma et al. 2018 defines 0.5x, 1x, 1.5x and 2x",
            )
        stem, *stages, last = SHUFFLENET_V2_CHANNELS[scale]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        ch, reduction = stem, 4
        for i, (repeats, out) in enumerate(zip(SHUFFLENET_V2_REPEATS, stages)):
            units = [ShuffleV2Unit(ch, out, 2)] + [ShuffleV2Unit(out, out, 1) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            ch, reduction = out, reduction * 2
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"stage{i + 2}"))
        self.conv5 = nn.Sequential(nn.Conv2d(ch, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU(inplace=True))
        self.feature_info.append(dict(channels=last, reduction=reduction, module="conv5"))
        self.num_features = last
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(last, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.stage4(self.stage3(self.stage2(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.fc(x)


# -- registration --------------------------------------------------------------------------------
_V1_PAPER = "Zhang et al., ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices"


def _v1_card(name: str, scale: float, *, params: int, table: str) -> ModelCard:
    """A ShuffleNet v1 card (g = 3): MACs and error from ``table`` of Zhang et al. 2018 (``SHUFFLENET_V1_MFLOPS``,
    ``SHUFFLENET_V1_ERROR``); ``params``: exact count of this module (the paper gives none)."""
    err, mf = SHUFFLENET_V1_ERROR[scale][3], SHUFFLENET_V1_MFLOPS[scale]
    return ModelCard(
        name=name,
        family="ShuffleNet",
        paper=_V1_PAPER,
        year=2018,
        params=params,
        macs=mf * 10**6,
        top1=round(100 - err, 1),
        source=f"MACs and top-1: Zhang et al. 2018, {table} (ShuffleNet {scale:g}x, g = 3: {mf} MFLOPs = "
        f"multiply-adds, {err}% top-1 error); params: exact count of this module (the paper gives none)",
        departures=(
            "stage widths for scale != 1 are rounded to a multiple of 4 g, Conv1 is 12/12/24/24/48 for "
            "0.25x/0.5x/1x/1.5x/2x (rounded down to a multiple of g); the paper does not say how it rounds",
            "BN after every convolution, no ReLU after the depthwise conv (as the paper)",
        ),
        notes="options: groups=1|2|3|4|8 (Table 1; default 3), scale=0.25|0.5|1|1.5|2 (Tables 2 and 5)",
    )


@register_model(card=_v1_card("shufflenet_v1", 1.0, params=1_865_728, table="Table 2"))
def shufflenet_v1(scale: float = 1.0, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(scale=scale, **kwargs)


@register_model(card=_v1_card("shufflenet_v1_x0_5", 0.5, params=718_324, table="Table 2"))
def shufflenet_v1_x0_5(scale: float = 0.5, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(scale=scale, **kwargs)


@register_model(card=_v1_card("shufflenet_v1_x1_5", 1.5, params=3_442_168, table="Table 5"))
def shufflenet_v1_x1_5(scale: float = 1.5, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(scale=scale, **kwargs)


@register_model(card=_v1_card("shufflenet_v1_x2_0", 2.0, params=5_450_776, table="Table 5"))
def shufflenet_v1_x2_0(scale: float = 2.0, **kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(scale=scale, **kwargs)


_V2_PAPER = "Ma et al., ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"


def _v2_card(
    name: str, *, params: int, top1: float, top5: float, tv_gflops: float, paper_mflops: int, paper_error: float
) -> ModelCard:
    """A ShuffleNet V2 card: ``params``, ``top1``/``top5``, ``tv_gflops``: torchvision 0.29 IMAGENET1K_V1 weights;
    ``paper_*``: Ma et al. 2018, Table 5."""
    return ModelCard(
        name=name,
        family="ShuffleNet",
        paper=_V2_PAPER,
        year=2018,
        params=params,
        macs=paper_mflops * 10**6,
        top1=top1,
        top5=top5,
        torchvision=name,
        source=f"params and top-1/top-5: torchvision 0.29 IMAGENET1K_V1 weights ({tv_gflops} GFLOPS); MACs: "
        f"Ma et al. 2018, Table 5 ({paper_mflops} MFLOPs = multiply-adds, {paper_error}% top-1 error)",
    )


@register_model(
    card=_v2_card(
        "shufflenet_v2_x0_5",
        params=1_366_792,
        top1=60.552,
        top5=81.746,
        tv_gflops=0.04,
        paper_mflops=41,
        paper_error=39.7,
    )
)
def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(0.5, **kwargs)


@register_model(
    card=_v2_card(
        "shufflenet_v2_x1_0",
        params=2_278_604,
        top1=69.362,
        top5=88.316,
        tv_gflops=0.14,
        paper_mflops=146,
        paper_error=30.6,
    )
)
def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(1.0, **kwargs)


@register_model(
    card=_v2_card(
        "shufflenet_v2_x1_5",
        params=3_503_624,
        top1=72.996,
        top5=91.086,
        tv_gflops=0.30,
        paper_mflops=299,
        paper_error=27.4,
    )
)
def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(1.5, **kwargs)


@register_model(
    card=_v2_card(
        "shufflenet_v2_x2_0",
        params=7_393_996,
        top1=76.230,
        top5=93.006,
        tv_gflops=0.58,
        paper_mflops=591,
        paper_error=25.1,
    )
)
def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(2.0, **kwargs)
