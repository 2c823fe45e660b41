"""EfficientNet B0-B7 (Tan & Le 2019) and EfficientNetV2 S/M/L (Tan & Le 2021): lecture 000
"Efficiently scalable models", lecture 003 "EfficientNetV2".

Compound scaling (Tan & Le 2019, Eq. 3): depth ``d = alpha^phi``, width ``w = beta^phi``,
resolution ``r = gamma^phi`` with ``alpha = 1.2, beta = 1.1, gamma = 1.15`` (so that
``alpha * beta^2 * gamma^2 ~ 2``: each step of phi doubles the FLOPs). The released B1-B7 use
rounded coefficients (``EFFICIENTNET_SCALING``); ``efficientnet(phi)`` builds any phi in one call.

State-dict keys are torchvision's (``features.{stage}.{block}.block.{i}``, ``classifier.1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn import ConvNormAct, make_divisible
from ..nn.mobile import FusedMBConv, MBConv
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# One row per stage: operator, expansion, kernel, stride, output channels, layers, squeeze-excite ratio
# (of the block's input channels).
# EfficientNet-B0, Tan & Le 2019, Table 1 (stem: Conv3x3 / s2, 32; head: Conv1x1 & Pooling & FC, 1280):
EFFICIENTNET_B0 = [
    # op,      e, k, s,  c,  n,  se
    ("mbconv", 1, 3, 1, 16, 1, 0.25),
    ("mbconv", 6, 3, 2, 24, 2, 0.25),
    ("mbconv", 6, 5, 2, 40, 2, 0.25),
    ("mbconv", 6, 3, 2, 80, 3, 0.25),
    ("mbconv", 6, 5, 1, 112, 3, 0.25),
    ("mbconv", 6, 5, 2, 192, 4, 0.25),
    ("mbconv", 6, 3, 1, 320, 1, 0.25),
]
EFFICIENTNET_B0_STEM = 32

# EfficientNetV2-S, Tan & Le 2021, Table 4 (lecture 003 prints it):
#   Stage  Operator                 Stride  #Channels  #Layers
#   0      Conv3x3                  2       24         1
#   1      Fused-MBConv1, k3x3      1       24         2
#   2      Fused-MBConv4, k3x3      2       48         4
#   3      Fused-MBConv4, k3x3      2       64         4
#   4      MBConv4, k3x3, SE0.25    2       128        6
#   5      MBConv6, k3x3, SE0.25    1       160        9
#   6      MBConv6, k3x3, SE0.25    2       256        15
#   7      Conv1x1 & Pooling & FC   -       1280       1
# (lecture 003 prints 272 channels for stage 6 and 1792 for the head: those are EfficientNet-B4's
#  last-stage and head widths, not V2-S's; the paper, torchvision and timm all have 256 and 1280.)
EFFICIENTNET_V2_S = [
    # op,      e, k, s,  c,   n,  se
    ("fused", 1, 3, 1, 24, 2, 0),
    ("fused", 4, 3, 2, 48, 4, 0),
    ("fused", 4, 3, 2, 64, 4, 0),
    ("mbconv", 4, 3, 2, 128, 6, 0.25),
    ("mbconv", 6, 3, 1, 160, 9, 0.25),
    ("mbconv", 6, 3, 2, 256, 15, 0.25),
]
# V2-M and V2-L: the official implementation's ``efficientnetv2-m/l`` block strings (the paper gives
# only V2-S's table; M and L are described as scaled-up V2-S with an extra stage), as torchvision.
EFFICIENTNET_V2_M = [
    ("fused", 1, 3, 1, 24, 3, 0),
    ("fused", 4, 3, 2, 48, 5, 0),
    ("fused", 4, 3, 2, 80, 5, 0),
    ("mbconv", 4, 3, 2, 160, 7, 0.25),
    ("mbconv", 6, 3, 1, 176, 14, 0.25),
    ("mbconv", 6, 3, 2, 304, 18, 0.25),
    ("mbconv", 6, 3, 1, 512, 5, 0.25),
]
EFFICIENTNET_V2_L = [
    ("fused", 1, 3, 1, 32, 4, 0),
    ("fused", 4, 3, 2, 64, 7, 0),
    ("fused", 4, 3, 2, 96, 7, 0),
    ("mbconv", 4, 3, 2, 192, 10, 0.25),
    ("mbconv", 6, 3, 1, 224, 19, 0.25),
    ("mbconv", 6, 3, 2, 384, 25, 0.25),
    ("mbconv", 6, 3, 1, 640, 7, 0.25),
]
EFFICIENTNET_V2_HEAD = 1280

# Compound-scaling constants, Tan & Le 2019, Section 3.3: depth alpha, width beta, resolution gamma.
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


@dataclass(frozen=True)
class Scaling:
    width: float
    depth: float
    resolution: int
    dropout: float


# The released B0-B7 coefficients (the official implementation's ``efficientnet_params``; torchvision
# uses the same): phi -> (width, depth, resolution, dropout).
EFFICIENTNET_SCALING = {
    0: Scaling(1.0, 1.0, 224, 0.2),
    1: Scaling(1.0, 1.1, 240, 0.2),
    2: Scaling(1.1, 1.2, 260, 0.3),
    3: Scaling(1.2, 1.4, 300, 0.3),
    4: Scaling(1.4, 1.8, 380, 0.4),
    5: Scaling(1.6, 2.2, 456, 0.4),
    6: Scaling(1.8, 2.6, 528, 0.5),
    7: Scaling(2.0, 3.1, 600, 0.5),
}


def compound_scaling(phi: float) -> Scaling:
    """The scaling of EfficientNet-B``phi``: the released row for phi = 0..7, else Eq. 3 of the paper
    (``alpha^phi``, ``beta^phi``, ``224 * gamma^phi`` rounded to a multiple of 8)."""
    if phi < 0:
        raise CnnlabError(
            f"EfficientNet: compound coefficient phi must be >= 0, got {phi}",
            "phi = 0 is B0; the released networks are B0-B7 (phi = 0..7)",
        )
    if float(phi).is_integer() and int(phi) in EFFICIENTNET_SCALING:
        return EFFICIENTNET_SCALING[int(phi)]
    return Scaling(
        width=BETA**phi,
        depth=ALPHA**phi,
        resolution=8 * round(224 * GAMMA**phi / 8),
        dropout=min(0.5, 0.2 + 0.3 * phi / 7),
    )


class EfficientNet(Classifier):
    """Stem conv, the stage table (MBConv / Fused-MBConv rows), a 1x1 head conv, pooling, classifier."""

    classifier_path = "classifier.1"

    def __init__(
        self,
        stages: list[tuple],
        stem: int,
        head: int | None = None,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.2,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        act: str = "silu",
        resolution: int = 224,
    ):
        super().__init__(num_classes, in_chans)
        bn = dict(bn_eps=bn_eps, bn_momentum=bn_momentum)
        ch = make_divisible(stem * width_mult)
        layers: list[nn.Module] = [ConvNormAct(in_chans, ch, 3, 2, act=act, **bn)]
        depths = [int(math.ceil(n * depth_mult)) for *_, n, _se in stages]
        total, idx, reduction = sum(depths), 0, 2
        for (op, e, k, s, c, _n, se), n in zip(stages, depths):
            out = make_divisible(c * width_mult)
            if s == 2:
                self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"features.{len(layers) - 1}"))
            blocks = []
            for i in range(n):
                stride, dp = (s if i == 0 else 1), drop_path_rate * idx / total
                if op == "fused":
                    blocks.append(FusedMBConv(ch, out, ch * e, k, stride, act=act, drop_path=dp, **bn))
                else:
                    se_ch = max(1, int(ch * se)) if se else 0  # squeeze width from the block's INPUT channels
                    blocks.append(
                        MBConv(ch, out, ch * e, k, stride, act=act, se_ch=se_ch, se_act=act, drop_path=dp, **bn)
                    )
                ch, idx = out, idx + 1
            reduction *= s
            layers.append(nn.Sequential(*blocks))
        self.num_features = head if head is not None else 4 * ch
        layers.append(ConvNormAct(ch, self.num_features, 1, act=act, **bn))
        self.feature_info.append(
            dict(channels=self.num_features, reduction=reduction, module=f"features.{len(layers) - 1}")
        )
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(drop_rate), nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        )
        self.default_input_size = (in_chans, resolution, resolution)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.classifier(x)


_V1_PAPER = "Tan & Le, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"


# Any phi from the CLI too: `cnnlab train efficientnet --model-arg phi=2.5` (phi = 0 is B0).
@register_model(
    card=ModelCard(
        name="efficientnet",
        family="EfficientNet",
        paper=_V1_PAPER,
        year=2019,
        params=5_288_548,
        macs=385_814_752,
        top1=77.1,
        top5=93.3,
        source="compound-scaled EfficientNet-B(phi) (Tan & Le 2019, Eq. 3); the figures are phi = 0 (B0): params and "
        "MACs counted, top-1/top-5 from Table 2",
        departures=(
            "phi = 0..7 use the released coefficients (= efficientnet_b0..b7); other phi use alpha^phi, beta^phi, "
            "gamma^phi with the resolution rounded to a multiple of 8",
        ),
        notes="option: phi=<float> (e.g. create_model('efficientnet', phi=2.5)); the card's input size is phi = 0's",
    )
)
def efficientnet(phi: float = 0, **kwargs) -> EfficientNet:
    """EfficientNet-B``phi`` in one call: B0's table scaled by :func:`compound_scaling`."""
    sc = compound_scaling(phi)
    # B5-B7 were trained in TensorFlow with BN eps 1e-3 / momentum 0.01 (torchvision keeps these)
    bn = dict(bn_eps=1e-3, bn_momentum=0.01) if phi >= 5 else {}
    kwargs = {"drop_rate": sc.dropout, **bn, **kwargs}
    return EfficientNet(
        EFFICIENTNET_B0,
        EFFICIENTNET_B0_STEM,
        width_mult=sc.width,
        depth_mult=sc.depth,
        resolution=sc.resolution,
        **kwargs,
    )


def efficientnet_v2(variant: str, **kwargs) -> EfficientNet:
    stages, stem, drop, res = EFFICIENTNET_V2[variant]
    kwargs = {"drop_rate": drop, "bn_eps": 1e-3, **kwargs}
    return EfficientNet(stages, stem, head=EFFICIENTNET_V2_HEAD, resolution=res, **kwargs)


# variant -> (stage table, stem channels, dropout, evaluation resolution as torchvision's weights)
EFFICIENTNET_V2 = {
    "s": (EFFICIENTNET_V2_S, 24, 0.2, 384),
    "m": (EFFICIENTNET_V2_M, 24, 0.3, 480),
    "l": (EFFICIENTNET_V2_L, 32, 0.4, 480),
}

# -- registration --------------------------------------------------------------------------------


def _b_card(
    phi: int,
    *,
    params: int,
    top1: float,
    top5: float,
    tv_gmacs: float,
    paper_top1: float,
    paper_top5: float,
    paper_params_m: float,
    paper_gflops: float,
) -> ModelCard:
    """The card of EfficientNet-B``phi``: ``params``, ``top1``/``top5`` and ``tv_gmacs`` are torchvision 0.29's
    IMAGENET1K_V1 figures; ``paper_*`` are Tan & Le 2019, Table 2 (its "FLOPs" are multiply-adds)."""
    sc = EFFICIENTNET_SCALING[phi]
    if phi == 2:  # torchvision evaluates B2 at 288, not the paper's 260: its GMACs are for 288x288
        macs, where = (
            round(paper_gflops * 1e9),
            (f"MACs: paper ({paper_gflops}B at {sc.resolution}; torchvision's {tv_gmacs} G is at 288)"),
        )
    else:
        macs, where = round(tv_gmacs * 1e9), f"MACs: torchvision ({tv_gmacs} G multiply-adds)"
    return ModelCard(
        name=f"efficientnet_b{phi}",
        family="EfficientNet",
        paper=_V1_PAPER,
        year=2019,
        input_size=(3, sc.resolution, sc.resolution),
        params=params,
        macs=macs,
        top1=top1,
        top5=top5,
        torchvision=f"efficientnet_b{phi}",
        source=f"params and top-1/top-5: torchvision 0.29 IMAGENET1K_V1 weights; {where}; paper (Tan & Le 2019, "
        f"Table 2): {paper_top1}% / {paper_top5}%, {paper_params_m}M params, {paper_gflops}B FLOPs "
        "(multiply-adds)",
        departures=(
            f"width x{sc.width}, depth x{sc.depth}, resolution {sc.resolution}: the released coefficients, "
            "not alpha/beta/gamma^phi exactly",
            "squeeze-excite width is 1/4 of the block's input channels (the reference code's rule)",
        )
        + (("BN eps 1e-3, momentum 0.01 (TensorFlow-trained weights)",) if phi >= 5 else ()),
    )


@register_model(
    card=_b_card(
        0,
        params=5_288_548,
        top1=77.692,
        top5=93.532,
        tv_gmacs=0.386,
        paper_top1=77.1,
        paper_top5=93.3,
        paper_params_m=5.3,
        paper_gflops=0.39,
    )
)
def efficientnet_b0(**kwargs) -> EfficientNet:
    return efficientnet(0, **kwargs)


@register_model(
    card=_b_card(
        1,
        params=7_794_184,
        top1=78.642,
        top5=94.186,
        tv_gmacs=0.687,
        paper_top1=79.1,
        paper_top5=94.4,
        paper_params_m=7.8,
        paper_gflops=0.7,
    )
)
def efficientnet_b1(**kwargs) -> EfficientNet:
    return efficientnet(1, **kwargs)


@register_model(
    card=_b_card(
        2,
        params=9_109_994,
        top1=80.608,
        top5=95.31,
        tv_gmacs=1.088,
        paper_top1=80.1,
        paper_top5=94.9,
        paper_params_m=9.2,
        paper_gflops=1.0,
    )
)
def efficientnet_b2(**kwargs) -> EfficientNet:
    return efficientnet(2, **kwargs)


@register_model(
    card=_b_card(
        3,
        params=12_233_232,
        top1=82.008,
        top5=96.054,
        tv_gmacs=1.827,
        paper_top1=81.6,
        paper_top5=95.7,
        paper_params_m=12,
        paper_gflops=1.8,
    )
)
def efficientnet_b3(**kwargs) -> EfficientNet:
    return efficientnet(3, **kwargs)


@register_model(
    card=_b_card(
        4,
        params=19_341_616,
        top1=83.384,
        top5=96.594,
        tv_gmacs=4.394,
        paper_top1=82.9,
        paper_top5=96.4,
        paper_params_m=19,
        paper_gflops=4.2,
    )
)
def efficientnet_b4(**kwargs) -> EfficientNet:
    return efficientnet(4, **kwargs)


@register_model(
    card=_b_card(
        5,
        params=30_389_784,
        top1=83.444,
        top5=96.628,
        tv_gmacs=10.266,
        paper_top1=83.6,
        paper_top5=96.7,
        paper_params_m=30,
        paper_gflops=9.9,
    )
)
def efficientnet_b5(**kwargs) -> EfficientNet:
    return efficientnet(5, **kwargs)


@register_model(
    card=_b_card(
        6,
        params=43_040_704,
        top1=84.008,
        top5=96.916,
        tv_gmacs=19.068,
        paper_top1=84.0,
        paper_top5=96.8,
        paper_params_m=43,
        paper_gflops=19,
    )
)
def efficientnet_b6(**kwargs) -> EfficientNet:
    return efficientnet(6, **kwargs)


@register_model(
    card=_b_card(
        7,
        params=66_347_960,
        top1=84.122,
        top5=96.908,
        tv_gmacs=37.746,
        paper_top1=84.3,
        paper_top5=97.0,
        paper_params_m=66,
        paper_gflops=37,
    )
)
def efficientnet_b7(**kwargs) -> EfficientNet:
    return efficientnet(7, **kwargs)


_V2_PAPER = "Tan & Le, EfficientNetV2: Smaller Models and Faster Training"


def _v2_card(
    variant: str,
    *,
    params: int,
    top1: float,
    top5: float,
    tv_gmacs: float,
    paper_top1: float,
    paper_params_m: float,
    paper_gflops: float,
) -> ModelCard:
    """The card of EfficientNetV2-``variant``: ``params``, ``top1``/``top5``, ``tv_gmacs``: torchvision 0.29's
    IMAGENET1K_V1 weights; ``paper_*``: Tan & Le 2021, Table 7 (ImageNet-1k only)."""
    res = EFFICIENTNET_V2[variant][3]
    return ModelCard(
        name=f"efficientnet_v2_{variant}",
        family="EfficientNetV2",
        paper=_V2_PAPER,
        year=2021,
        input_size=(3, res, res),
        params=params,
        macs=round(tv_gmacs * 1e9),
        top1=top1,
        top5=top5,
        torchvision=f"efficientnet_v2_{variant}",
        source=f"params, MACs and top-1/top-5: torchvision 0.29 IMAGENET1K_V1 weights (at {res}); paper "
        f"(Tan & Le 2021, Table 7, ImageNet-1k only): {paper_top1}% top-1, {paper_params_m}M params, "
        f"{paper_gflops}B FLOPs",
        departures=(
            "trained at progressive resolution; the card's input size is the evaluation size",
            "BN eps 1e-3 (TensorFlow reference)",
        ),
    )


@register_model(
    card=_v2_card(
        "s",
        params=21_458_488,
        top1=84.228,
        top5=96.878,
        tv_gmacs=8.366,
        paper_top1=83.9,
        paper_params_m=22,
        paper_gflops=8.8,
    )
)
def efficientnet_v2_s(**kwargs) -> EfficientNet:
    return efficientnet_v2("s", **kwargs)


@register_model(
    card=_v2_card(
        "m",
        params=54_139_356,
        top1=85.112,
        top5=97.156,
        tv_gmacs=24.582,
        paper_top1=85.1,
        paper_params_m=54,
        paper_gflops=24,
    )
)
def efficientnet_v2_m(**kwargs) -> EfficientNet:
    return efficientnet_v2("m", **kwargs)


@register_model(
    card=_v2_card(
        "l",
        params=118_515_272,
        top1=85.808,
        top5=97.788,
        tv_gmacs=56.08,
        paper_top1=85.7,
        paper_params_m=120,
        paper_gflops=53,
    )
)
def efficientnet_v2_l(**kwargs) -> EfficientNet:
    return efficientnet_v2("l", **kwargs)
