"""MCUNet (Lin et al. 2020, "MCUNet: Tiny Deep Learning on IoT Devices"): lecture 000 "Tiny models".

TinyNAS searches a MobileNetV2-like space (inverted residual blocks with expansion 3/4/5/6 and
kernels 3/5/7, ReLU6, no squeeze-excite) for networks that fit a microcontroller's SRAM and flash;
TinyEngine runs them. The paper draws the searched networks as figures rather than tables, so the
block lists below are the authors' released configurations (mit-han-lab/tinyml,
``mcunet/assets/configs/*.json``, ``ProxylessNASNets`` format), one row per block:
``(expansion e, output channels c, kernel k, stride s)``. After the last block: global pooling
and the classifier (no 1x1 head convolution).

Which figures are established (and how) is stated in each card. The authors' released PyTorch
checkpoints (``ProxylessNASNets`` key layout) load through ``load_weights`` (``convert_weights``). The published MACs and
parameter counts (mit-han-lab/mcunet README, "Model List") are reproduced by these tables within
rounding (tested), which is what pins the architectures down.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..nn import ConvNormAct
from ..nn.mobile import InvertedResidual
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# mcunet-320kB (ImageNet; "mcunet-320kb-1mb_imagenet": fits 320 kB SRAM and 1 MB flash), input 176
MCUNET_IN3 = dict(
    stem=16,
    resolution=176,
    blocks=[
        # e,  c,  k, s
        (1, 8, 3, 1),
        (3, 16, 7, 2),
        (5, 16, 3, 1),
        (5, 16, 7, 1),
        (4, 16, 5, 1),
        (5, 24, 5, 2),
        (5, 24, 5, 1),
        (5, 24, 5, 1),
        (5, 40, 3, 2),
        (6, 40, 7, 1),
        (4, 40, 5, 1),
        (5, 48, 5, 1),
        (5, 48, 7, 1),
        (5, 48, 3, 1),
        (6, 96, 3, 2),
        (5, 96, 7, 1),
        (4, 96, 3, 1),
        (5, 160, 7, 1),
    ],
)
# mcunet-5fps (ImageNet; runs at 5 fps on an STM32F746), input 96
MCUNET_IN1 = dict(
    stem=16,
    resolution=96,
    blocks=[
        (1, 8, 3, 1),
        (4, 16, 3, 2),
        (3, 16, 3, 1),
        (3, 24, 7, 2),
        (5, 24, 3, 1),
        (5, 40, 3, 2),
        (4, 40, 7, 1),
        (4, 48, 5, 1),
        (3, 48, 3, 1),
        (4, 48, 3, 1),
        (5, 96, 7, 2),
        (4, 96, 5, 1),
        (4, 96, 5, 1),
        (6, 160, 3, 1),
    ],
)
# mcunet-10fps (ImageNet; 10 fps on an STM32F746), input 48
MCUNET_IN0 = dict(
    stem=24,
    resolution=48,
    blocks=[
        (1, 16, 3, 1),
        (4, 16, 5, 2),
        (3, 16, 3, 1),
        (4, 16, 3, 1),
        (5, 24, 7, 2),
        (4, 24, 5, 1),
        (5, 24, 5, 1),
        (5, 48, 7, 2),
        (4, 48, 5, 1),
        (5, 56, 3, 1),
        (4, 56, 5, 1),
        (5, 56, 3, 1),
        (6, 112, 3, 2),
        (4, 112, 5, 1),
        (6, 192, 3, 1),
    ],
)
# mcunet-256kB (ImageNet; 256 kB SRAM / 1 MB flash), input 160
MCUNET_IN2 = dict(
    stem=16,
    resolution=160,
    blocks=[
        (1, 8, 3, 1),
        (3, 16, 5, 2),
        (6, 16, 7, 1),
        (5, 16, 3, 1),
        (5, 16, 5, 1),
        (5, 24, 3, 2),
        (6, 24, 7, 1),
        (6, 24, 5, 1),
        (4, 40, 7, 2),
        (5, 40, 5, 1),
        (5, 48, 3, 1),
        (5, 48, 5, 1),
        (4, 48, 3, 1),
        (6, 96, 5, 2),
        (4, 96, 5, 1),
        (3, 96, 5, 1),
        (4, 96, 3, 1),
        (5, 160, 5, 1),
    ],
)
# mcunet-512kB (ImageNet; 512 kB SRAM / 2 MB flash), input 160
MCUNET_IN4 = dict(
    stem=32,
    resolution=160,
    blocks=[
        (1, 16, 3, 1),
        (3, 24, 7, 2),
        (5, 24, 3, 1),
        (4, 24, 5, 1),
        (5, 40, 7, 2),
        (4, 40, 3, 1),
        (4, 40, 7, 1),
        (3, 80, 7, 2),
        (3, 80, 3, 1),
        (3, 80, 7, 1),
        (4, 96, 3, 1),
        (3, 96, 5, 1),
        (3, 96, 5, 1),
        (4, 192, 7, 2),
        (3, 192, 7, 1),
        (3, 192, 5, 1),
        (4, 320, 5, 1),
    ],
)
# mcunet-320kB-vww (visual wake words: person / no person), input 144. Its configuration is not in
# the released config folder: the rows come from the layer list of the released int8 model
# (as transcribed layer by layer in the Wake Vision challenge's baseline); they reproduce the
# published 55.8M MACs and 0.64M params (tested).
MCUNET_VWW2 = dict(
    stem=16,
    resolution=144,
    blocks=[
        (1, 8, 3, 1),
        (3, 16, 3, 2),
        (5, 16, 3, 1),
        (6, 16, 5, 1),
        (3, 16, 3, 1),
        (5, 24, 7, 2),
        (4, 24, 5, 1),
        (4, 24, 3, 1),
        (6, 24, 7, 1),
        (6, 40, 3, 2),
        (6, 40, 7, 1),
        (4, 40, 5, 1),
        (5, 40, 3, 1),
        (5, 48, 5, 1),
        (3, 48, 5, 1),
        (4, 48, 3, 1),
        (3, 48, 5, 1),
        (4, 96, 3, 2),
        (5, 96, 5, 1),
        (4, 96, 5, 1),
        (4, 96, 3, 1),
        (5, 160, 3, 1),
    ],
)


class MCUNet(Classifier):
    """Stem conv 3x3 / s2 (ReLU6), the block rows (MobileNetV2 inverted residuals with per-block
    kernel), global average pooling, linear classifier."""

    classifier_path = "classifier.1"

    def __init__(
        self,
        stem: int,
        blocks: list[tuple[int, int, int, int]],
        resolution: int = 176,
        num_classes: int = 1000,
        in_chans: int = 3,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        layers: list[nn.Module] = [ConvNormAct(in_chans, stem, 3, 2, act="relu6")]
        ch, reduction = stem, 2
        for idx, (e, c, k, s) in enumerate(blocks):
            if s == 2:
                self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"features.{len(layers) - 1}"))
            layers.append(InvertedResidual(ch, c, s, e, kernel_size=k, drop_path=drop_path_rate * idx / len(blocks)))
            ch, reduction = c, reduction * s
        self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"features.{len(layers) - 1}"))
        self.features = nn.Sequential(*layers)
        self.num_features = ch
        self.default_input_size = (in_chans, resolution, resolution)
        self.classifier = nn.Sequential(
            nn.Dropout(drop_rate), nn.Linear(ch, num_classes) if num_classes else nn.Identity()
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def convert_weights(self, state_dict: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        """The authors' checkpoints (``ProxylessNASNets`` layout: ``first_conv.{conv,bn}``,
        ``blocks.{i}.mobile_inverted_conv.{inverted_bottleneck,depth_conv,point_linear}.{conv,bn}``,
        ``classifier.linear``) into ours; other layouts pass through unchanged."""
        if not any(k.startswith("first_conv.") for k in state_dict):
            return state_dict
        return {self._official_key(key): value for key, value in state_dict.items()}

    def _official_key(self, key: str) -> str:
        parts = key.split(".")
        if parts[0] == "first_conv":  # ConvLayer: conv, bn
            return ".".join(["features.0", {"conv": "0", "bn": "1"}[parts[1]], *parts[2:]])
        if parts[0] == "classifier" and parts[1] == "linear":
            return ".".join(["classifier.1", *parts[2:]])
        if parts[0] == "blocks" and len(parts) > 5 and parts[2] == "mobile_inverted_conv":
            index, layer, op, rest = int(parts[1]) + 1, parts[3], parts[4], ".".join(parts[5:])
            expands = len(self.features[index].conv) == 4  # ours: [expand, dw, conv, bn] or [dw, conv, bn]
            if layer == "point_linear":  # our projection is flat: Conv2d then BatchNorm2d
                slot = (2 if expands else 1) + (op == "bn")
                return f"features.{index}.conv.{slot}.{rest}"
            slot = {"inverted_bottleneck": 0, "depth_conv": 1 if expands else 0}[layer]
            return f"features.{index}.conv.{slot}.{'1' if op == 'bn' else '0'}.{rest}"
        return key

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.classifier(x)


# -- registration --------------------------------------------------------------------------------
_PAPER = "Lin et al., MCUNet: Tiny Deep Learning on IoT Devices"
_ZOO = "mit-han-lab/mcunet README, Model List (profiled with TinyEngine on an STM32F746)"
_NOT_IN_PAPER = (
    "the paper shows the searched networks only as figures; the layer table is the authors' released configuration"
)

# name -> the released configuration it is built from
MCUNET_VARIANTS = {
    "mcunet": MCUNET_IN3,
    "mcunet_5fps": MCUNET_IN1,
    "mcunet_10fps": MCUNET_IN0,
    "mcunet_256kb": MCUNET_IN2,
    "mcunet_512kb": MCUNET_IN4,
    "mcunet_vww": MCUNET_VWW2,
}


def _build(name: str, num_classes: int = 1000, **kwargs) -> MCUNet:
    spec = MCUNET_VARIANTS[name]
    return MCUNet(spec["stem"], spec["blocks"], spec["resolution"], num_classes=num_classes, **kwargs)


def _card(
    name: str,
    *,
    macs: float,
    params: float,
    sram_kb: int,
    flash_kb: int,
    top1: float,
    top5: float | None,
    config: str,
    notes: str,
    num_classes: int = 1000,
) -> ModelCard:
    """A card from the zoo's Model List: published (rounded) ``macs``, ``params``, SRAM and flash of the int8
    model, fp32 ``top1``/``top5``; ``config`` names the released architecture file."""
    r = MCUNET_VARIANTS[name]["resolution"]
    return ModelCard(
        name=name,
        family="MCUNet",
        paper=_PAPER,
        year=2020,
        input_size=(3, r, r),
        num_classes=num_classes,
        params=int(params),
        macs=int(macs),
        top1=top1,
        top5=top5,
        dataset="Visual Wake Words (COCO person)" if num_classes == 2 else "ImageNet-1k",
        source=f"{_ZOO}: {macs / 1e6:.1f}M MACs, {params / 1e6:.2f}M params, SRAM {sram_kb} kB, flash {flash_kb} kB, "
        f"top-1 {top1}% (fp32){'' if top5 is None else f', top-5 {top5}%'}; architecture: {config}. Not "
        "established here: the paper's int4 figures and the peak-memory schedule of TinyEngine (patch-based "
        "inference is MCUNetV2)",
        departures=(_NOT_IN_PAPER, "float32 network; the published SRAM/flash figures are for the int8 model"),
        notes=notes,
    )


@register_model(
    card=_card(
        "mcunet",
        macs=81.8e6,
        params=0.74e6,
        sram_kb=293,
        flash_kb=897,
        top1=62.2,
        top5=84.5,
        config="mcunet-320kb-1mb_imagenet.json",
        notes="the paper's headline ImageNet network for 320 kB SRAM / 1 MB flash (mcunet-in3)",
    )
)
def mcunet(**kwargs) -> MCUNet:
    return _build("mcunet", **kwargs)


@register_model(
    card=_card(
        "mcunet_5fps",
        macs=12.8e6,
        params=0.64e6,
        sram_kb=307,
        flash_kb=992,
        top1=51.5,
        top5=75.5,
        config="mcunet-5fps_imagenet.json",
        notes="the ImageNet network that runs at 5 fps on an STM32F746 (mcunet-in1)",
    )
)
def mcunet_5fps(**kwargs) -> MCUNet:
    return _build("mcunet_5fps", **kwargs)


@register_model(
    card=_card(
        "mcunet_10fps",
        macs=6.4e6,
        params=0.75e6,
        sram_kb=266,
        flash_kb=889,
        top1=41.5,
        top5=66.3,
        config="mcunet-10fps_imagenet.json",
        notes="the ImageNet network that runs at 10 fps on an STM32F746 (mcunet-in0)",
    )
)
def mcunet_10fps(**kwargs) -> MCUNet:
    return _build("mcunet_10fps", **kwargs)


@register_model(
    card=_card(
        "mcunet_256kb",
        macs=67.3e6,
        params=0.73e6,
        sram_kb=242,
        flash_kb=878,
        top1=60.9,
        top5=83.3,
        config="mcunet-256kb-1mb_imagenet.json",
        notes="the ImageNet network for 256 kB SRAM / 1 MB flash (mcunet-in2)",
    )
)
def mcunet_256kb(**kwargs) -> MCUNet:
    return _build("mcunet_256kb", **kwargs)


@register_model(
    card=_card(
        "mcunet_512kb",
        macs=125.9e6,
        params=1.73e6,
        sram_kb=456,
        flash_kb=1876,
        top1=68.4,
        top5=88.4,
        config="mcunet-512kb-2mb_imagenet.json",
        notes="the ImageNet network for 512 kB SRAM / 2 MB flash (mcunet-in4)",
    )
)
def mcunet_512kb(**kwargs) -> MCUNet:
    return _build("mcunet_512kb", **kwargs)


@register_model(
    card=_card(
        "mcunet_vww",
        macs=55.8e6,
        params=0.64e6,
        sram_kb=311,
        flash_kb=897,
        top1=91.7,
        top5=None,
        config="released int8 model's layer list",
        num_classes=2,
        notes="the visual-wake-words (person / no person) network for 320 kB SRAM / 1 MB flash (mcunet-vww2)",
    )
)
def mcunet_vww(num_classes: int = 2, **kwargs) -> MCUNet:
    return _build("mcunet_vww", num_classes, **kwargs)
