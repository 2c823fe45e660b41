"""MobileNets v1, v2 and v3: tiny networks for mobile devices (lecture 000 "Tiny models",
lecture 004 "MobileNets").

- v1 (Howard et al. 2017, Table 1): depthwise-separable convolutions, a width multiplier alpha
  and a resolution multiplier rho (Tables 6 and 7). Keys as timm's ``mobilenetv1_100``.
- v2 (Sandler et al. 2018, Table 2): inverted residuals with linear bottlenecks, rows ``t, c, n, s``.
  Keys as torchvision's ``mobilenet_v2``.
- v3 (Howard et al. 2019, Tables 1 and 2): searched MBConv blocks with squeeze-excite and
  hard-swish. Keys as torchvision's ``mobilenet_v3_large`` / ``mobilenet_v3_small``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn import ConvNormAct, make_activation, make_divisible
from ..nn.mobile import DepthwiseSeparable, InvertedResidual, MBConv
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# -- MobileNetV1, Howard et al. 2017, Table 1 ----------------------------------------------------
# Stem: Conv 3x3 / s2, 32 filters. Then the depthwise-separable layers as (out channels, stride),
# one list per resolution stage. (Table 1 prints the 13th layer as "Conv dw / s2", a typo: its
# input and output are both 7x7, so its stride is 1.)
MOBILENET_V1_STEM = 32
MOBILENET_V1 = [
    [(64, 1)],
    [(128, 2), (128, 1)],
    [(256, 2), (256, 1)],
    [(512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)],
    [(1024, 2), (1024, 1)],
]
# Resolutions of Table 7 (resolution multiplier rho = 1, 6/7, 5/7, 4/7).
MOBILENET_V1_RESOLUTIONS = (224, 192, 160, 128)


class MobileNetV1(Classifier):
    classifier_path = "classifier"

    def __init__(
        self,
        width_mult: float = 1.0,
        resolution: int = 224,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        act: str = "relu",
    ):
        super().__init__(num_classes, in_chans)
        if width_mult <= 0:
            raise CnnlabError(
                f"MobileNetV1: width multiplier must be positive, got {width_mult}",
                "the paper's values are 1.0, 0.75, 0.5 and 0.25",
            )
        if resolution < 32:
            raise CnnlabError(
                f"MobileNetV1: resolution {resolution} is below the network's total stride 32",
                f"the paper's resolutions are {', '.join(map(str, MOBILENET_V1_RESOLUTIONS))}",
            )
        self.width_mult = width_mult
        self.default_input_size = (in_chans, resolution, resolution)
        ch = make_divisible(MOBILENET_V1_STEM * width_mult)
        self.conv_stem = nn.Conv2d(in_chans, ch, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.act1 = make_activation(act, inplace=True)
        stages, reduction = [], 2
        for i, stage in enumerate(MOBILENET_V1):
            blocks = []
            for out, stride in stage:
                out = make_divisible(out * width_mult)
                blocks.append(DepthwiseSeparable(ch, out, stride, act=act))
                ch, reduction = out, reduction * stride
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"blocks.{i}"))
        self.blocks = nn.Sequential(*stages)
        self.num_features = ch
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(ch, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act1(self.bn1(self.conv_stem(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.classifier(x)


# -- MobileNetV2, Sandler et al. 2018, Table 2 ---------------------------------------------------
# Stem conv2d 3x3 / s2 with 32 filters, then bottleneck rows:
#   t: expansion factor, c: output channels, n: repeats, s: stride of the first repeat
MOBILENET_V2_STEM = 32
MOBILENET_V2 = [
    # t,  c,   n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
MOBILENET_V2_HEAD = 1280  # conv2d 1x1, then avgpool 7x7 and the classifier


class MobileNetV2(Classifier):
    classifier_path = "classifier.1"

    def __init__(
        self,
        width_mult: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        ch = make_divisible(MOBILENET_V2_STEM * width_mult)
        layers: list[nn.Module] = [ConvNormAct(in_chans, ch, 3, 2, act="relu6")]
        n_blocks = sum(n for _, _, n, _ in MOBILENET_V2)
        reduction, idx = 2, 0
        for t, c, n, s in MOBILENET_V2:
            out = make_divisible(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                if stride == 2:
                    self.feature_info.append(
                        dict(channels=ch, reduction=reduction, module=f"features.{len(layers) - 1}")
                    )
                layers.append(InvertedResidual(ch, out, stride, t, drop_path=drop_path_rate * idx / n_blocks))
                ch, reduction, idx = out, reduction * stride, idx + 1
        self.num_features = make_divisible(MOBILENET_V2_HEAD * max(1.0, width_mult))
        layers.append(ConvNormAct(ch, self.num_features, 1, act="relu6"))
        self.feature_info.append(
            dict(channels=self.num_features, reduction=reduction, module=f"features.{len(layers) - 1}")
        )
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(drop_rate), nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.classifier(x)


# -- MobileNetV3, Howard et al. 2019, Table 1 (Large) and Table 2 (Small) -----------------------
# Each row is a bneck: kernel k, expansion size, output channels, squeeze-excite, nonlinearity
# (RE = ReLU, HS = hard-swish), stride. Stem: conv2d 3x3 / s2, 16 filters, HS.
MOBILENET_V3_LARGE = [
    # k, exp,  out, SE,   NL,   s
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2),
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
]
MOBILENET_V3_SMALL = [
    # k, exp, out, SE,   NL,   s
    (3, 16, 16, True, "RE", 2),
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
]
# Head: conv2d 1x1 to 6x the last bneck width (960 / 576), pool, then a 1x1 "conv" (a Linear) to
# 1280 / 1024 features with HS, and the classifier.
MOBILENET_V3_HEAD = {"large": 1280, "small": 1024}
_NL = {"RE": "relu", "HS": "hardswish"}


class MobileNetV3(Classifier):
    classifier_path = "classifier.3"

    def __init__(
        self,
        variant: str = "large",
        width_mult: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        table = {"large": MOBILENET_V3_LARGE, "small": MOBILENET_V3_SMALL}[variant]
        bn = dict(bn_eps=1e-3, bn_momentum=0.01)  # the TensorFlow reference's BN settings (as torchvision)
        ch = make_divisible(16 * width_mult)
        layers: list[nn.Module] = [ConvNormAct(in_chans, ch, 3, 2, act="hardswish", **bn)]
        reduction = 2
        for idx, (k, exp, out, se, nl, s) in enumerate(table):
            exp, out = make_divisible(exp * width_mult), make_divisible(out * width_mult)
            if s == 2:
                self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"features.{len(layers) - 1}"))
            layers.append(
                MBConv(
                    ch,
                    out,
                    exp,
                    k,
                    s,
                    act=_NL[nl],
                    se_ch=make_divisible(exp // 4) if se else 0,
                    se_act="relu",
                    se_gate="hardsigmoid",
                    drop_path=drop_path_rate * idx / len(table),
                    **bn,
                )
            )
            ch, reduction = out, reduction * s
        last_conv = 6 * ch
        layers.append(ConvNormAct(ch, last_conv, 1, act="hardswish", **bn))
        self.feature_info.append(dict(channels=last_conv, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.num_features = make_divisible(MOBILENET_V3_HEAD[variant] * width_mult)
        self.classifier = nn.Sequential(
            nn.Linear(last_conv, self.num_features),
            nn.Hardswish(inplace=True),
            nn.Dropout(drop_rate),
            nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity(),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.classifier[2](self.classifier[1](self.classifier[0](x.mean((2, 3)))))  # Linear, HS, Dropout
        return x if pre_logits else self.classifier[3](x)


# -- registration --------------------------------------------------------------------------------
_V1_PAPER = "Howard et al., MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"
# Howard et al. 2017, Table 6 (width multiplier, 224x224): top-1, million mult-adds, million params.
MOBILENET_V1_TABLE6 = {1.0: (70.6, 569, 4.2), 0.75: (68.4, 325, 2.6), 0.5: (63.7, 149, 1.3), 0.25: (50.6, 41, 0.5)}
# Table 7 (width 1.0, resolution): top-1, million mult-adds, million params.
MOBILENET_V1_TABLE7 = {224: (70.6, 569, 4.2), 192: (69.1, 418, 4.2), 160: (67.2, 290, 4.2), 128: (64.4, 186, 4.2)}


def _v1_card(name: str, alpha: float, params: int) -> ModelCard:
    """A MobileNetV1 card: ``alpha``'s row of Table 6; ``params``: exact count of this module (1000 classes, BN)."""
    top1, macs, paper_params = MOBILENET_V1_TABLE6[alpha]
    return ModelCard(
        name=name,
        family="MobileNet",
        paper=_V1_PAPER,
        year=2017,
        params=params,
        macs=macs * 10**6,
        top1=top1,
        source=f"Howard et al. 2017, Table 6 (width multiplier {alpha}: {top1}% top-1, {macs}M mult-adds, "
        f"{paper_params}M params); params: exact count of this module with a 1000-class "
        "classifier and BN" + (" (= timm mobilenetv1_100)" if alpha == 1.0 else ""),
        timm="mobilenetv1_100" if alpha == 1.0 else None,
        departures=(
            "the 13th depthwise layer has stride 1 (Table 1 prints s2, a typo: 7x7 in and out)",
            "resolution=128/160/192 (Table 7) only changes the default input size; the weights are the same",
        ),
        notes="create_model('mobilenet_v1', resolution=160) for the resolution multiplier of Table 7",
    )


@register_model(card=_v1_card("mobilenet_v1", 1.0, params=4_231_976))
def mobilenet_v1(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=1.0, **kwargs)


@register_model(card=_v1_card("mobilenet_v1_x0_75", 0.75, params=2_585_560))
def mobilenet_v1_x0_75(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.75, **kwargs)


@register_model(card=_v1_card("mobilenet_v1_x0_5", 0.5, params=1_331_592))
def mobilenet_v1_x0_5(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.5, **kwargs)


@register_model(card=_v1_card("mobilenet_v1_x0_25", 0.25, params=470_072))
def mobilenet_v1_x0_25(**kwargs) -> MobileNetV1:
    return MobileNetV1(width_mult=0.25, **kwargs)


@register_model(
    card=ModelCard(
        name="mobilenet_v2",
        family="MobileNet",
        paper="Sandler et al., MobileNetV2: Inverted Residuals and Linear Bottlenecks",
        year=2018,
        params=3_504_872,
        macs=300_000_000,
        top1=71.878,
        top5=90.286,
        torchvision="mobilenet_v2",
        source="params: torchvision 0.29 (3,504,872); MACs: Sandler et al. 2018, Table 4 (300M, 3.4M params, 72.0% "
        "top-1); top-1/top-5: torchvision IMAGENET1K_V1 weights",
        departures=("the classifier has dropout 0.2 before it (torchvision)",),
    )
)
def mobilenet_v2(**kwargs) -> MobileNetV2:
    return MobileNetV2(**kwargs)


_V3_PAPER = "Howard et al., Searching for MobileNetV3"


@register_model(
    card=ModelCard(
        name="mobilenet_v3_large",
        family="MobileNet",
        paper=_V3_PAPER,
        year=2019,
        params=5_483_032,
        macs=219_000_000,
        top1=74.042,
        top5=91.340,
        torchvision="mobilenet_v3_large",
        source="params: torchvision 0.29; MACs: Howard et al. 2019, Table 3 (219M MAdds, 5.4M params, 75.2% top-1); "
        "top-1/top-5: torchvision IMAGENET1K_V1 weights",
        departures=("BN eps 1e-3, momentum 0.01 as the TensorFlow reference (torchvision)",),
    )
)
def mobilenet_v3_large(**kwargs) -> MobileNetV3:
    return MobileNetV3("large", **kwargs)


@register_model(
    card=ModelCard(
        name="mobilenet_v3_small",
        family="MobileNet",
        paper=_V3_PAPER,
        year=2019,
        params=2_542_856,
        macs=56_000_000,
        top1=67.668,
        top5=87.402,
        torchvision="mobilenet_v3_small",
        source="params: torchvision 0.29; MACs: Howard et al. 2019, Table 4 (56M MAdds, 2.5M params, 67.4% top-1); "
        "top-1/top-5: torchvision IMAGENET1K_V1 weights",
        departures=("BN eps 1e-3, momentum 0.01 as the TensorFlow reference (torchvision)",),
    )
)
def mobilenet_v3_small(**kwargs) -> MobileNetV3:
    return MobileNetV3("small", **kwargs)
