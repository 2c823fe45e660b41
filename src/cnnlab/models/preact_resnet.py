"""Pre-activation ResNets (He, Zhang, Ren, Sun 2016, "Identity Mappings in Deep Residual Networks").

The residual unit becomes BN -> ReLU -> conv (Fig. 1b, "full pre-activation", Fig. 4e): nothing
follows the addition, so the shortcut path is a clean identity from any block to any later block
(eq. 4-5). Depths and widths are the ImageNet table of the original ResNet (He et al. 2015, Table 1,
``RESNET_DEPTHS``); the layout around the units follows section 3.1 and the authors' release
(fb.resnet.torch ``preresnet``):

    stem    conv1 7x7/2 -> BN -> ReLU -> max pool 3x3/2   (the first unit's pre-activation: section 3.1)
    layer1..4  pre-activation units; projection shortcuts are bare 1x1 convolutions of the
               pre-activated input (the next unit's BN normalizes)
    norm    BN -> ReLU after the last unit ("an extra activation right after the last element-wise
            addition", section 3.1), then global average pool -> fc
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..nn.residual import drop_path_rates, make_stage
from .card import ModelCard
from .registry import register_model
from .resnet import RESNET_DEPTHS, STAGE_PLANES, STEM_CHANNELS, ResNetHead, check_block


class PreActResNet(ResNetHead):
    def __init__(
        self,
        block: str = "preact_bottleneck",
        layers: tuple[int, ...] = (3, 4, 6, 3),
        num_classes: int = 1000,
        in_chans: int = 3,
        stride_in: str = "3x3",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        zero_init_residual: bool = False,
    ):
        super().__init__(num_classes, in_chans)
        block_cls = check_block(block, ("preact_basic", "preact_bottleneck"))
        self.drop_path_rate = drop_path_rate
        self.stride_in = stride_in
        self.add_imagenet_stem(in_chans)
        rates = drop_path_rates(layers, drop_path_rate)
        ch, reduction = STEM_CHANNELS, 4
        for i, (planes, n) in enumerate(zip(STAGE_PLANES, layers)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            # The stem's BN-ReLU is the first unit's pre-activation (section 3.1).
            first = dict(pre_activate=i > 0)
            stage, ch = make_stage(block_cls, ch, planes, n, stride, rates[i], first_kwargs=first, stride_in=stride_in)
            self.add_module(f"layer{i + 1}", stage)
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"layer{i + 1}"))
        self.norm = nn.BatchNorm2d(ch)
        self.feature_info[-1]["module"] = "norm"
        self._make_head(ch, num_classes, drop_rate)
        self._init_weights(zero_init_residual)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.relu(self.norm(x))


# He et al. 2016 (Identity Mappings), section 4.2 / Table 5: ResNet-200, bottleneck stages of 3, 24, 36, 3
# units (the depth of fb.resnet.torch's "200" and of timm's resnet200).
PREACT_DEPTHS = {**RESNET_DEPTHS, 200: ("bottleneck", (3, 24, 36, 3))}


def build_preact_resnet(depth: int, **kwargs) -> PreActResNet:
    block, layers = PREACT_DEPTHS[depth]
    return PreActResNet("preact_" + block, layers, **kwargs)


_PAPER = "He, Zhang, Ren, Sun: Identity Mappings in Deep Residual Networks (ECCV 2016, arXiv:1603.05027)"
# Reported results (He et al. 2016, Table 5: ImageNet, single 320x320 crop, top-1 / top-5 error):
# ResNet-152 pre-act 21.1 / 5.5 (lecture 004 quotes 21.3 vs 21.1); ResNet-200 pre-act 20.7 / 5.3 against
# 21.8 / 6.0 for the original (lecture 004's "21.8 vs 20.7"). The paper trains no pre-activation
# ResNet-18/34/50/101 on ImageNet; its other results are on CIFAR.
# Parameter counts: computed from the table (the paper gives none for ImageNet).
_PARAMS = {18: 11_687_720, 34: 21_795_880, 50: 25_549_352, 101: 44_541_480, 152: 60_185_128, 200: 64_666_152}
# Multiply-adds at 224x224, computed (the same convolutions as the post-activation ResNets, v1.5 stride).
_MACS = {
    18: 1_814_073_344,
    34: 3_663_761_408,
    50: 4_089_184_256,
    101: 7_801_405_440,
    152: 11_513_626_624,
    200: 15_007_481_856,
}


def _card(depth: int, top1: float | None = None, top5: float | None = None) -> ModelCard:
    """The card of ``preact_resnet{depth}``; ``top1``/``top5``: Table 5's accuracy where the paper reports one."""
    if top1 is None:
        accuracy = "no ImageNet result reported in the paper for this depth"
    else:
        accuracy = (
            f"accuracy: He et al. 2016, Table 5 (ResNet-{depth} pre-act, {100 - top1:.1f}% / "
            f"{100 - top5:.1f}% error, 320x320 crop"
            + ("; the original ResNet-200: 21.8% / 6.0%)" if depth == 200 else ")")
        )
    return ModelCard(
        name=f"preact_resnet{depth}",
        family="Pre-activation ResNet",
        paper=_PAPER,
        year=2016,
        input_size=(3, 224, 224),
        params=_PARAMS[depth],
        macs=_MACS[depth],
        top1=top1,
        top5=top5,
        source="params, MACs: computed from the layer table; " + accuracy,
        departures=(
            "stride of a downsampling bottleneck on the 3x3 convolution (as fb.resnet.torch, which the "
            "paper's ImageNet models use); stride_in='1x1' moves it",
        )
        if depth >= 50
        else (),
        notes="depths of He et al. 2015, Table 1; options: stride_in, drop_rate, drop_path_rate",
    )


@register_model(card=_card(18))
def preact_resnet18(**kwargs) -> PreActResNet:
    return build_preact_resnet(18, **kwargs)


@register_model(card=_card(34))
def preact_resnet34(**kwargs) -> PreActResNet:
    return build_preact_resnet(34, **kwargs)


@register_model(card=_card(50))
def preact_resnet50(**kwargs) -> PreActResNet:
    return build_preact_resnet(50, **kwargs)


@register_model(card=_card(101))
def preact_resnet101(**kwargs) -> PreActResNet:
    return build_preact_resnet(101, **kwargs)


@register_model(card=_card(152, top1=78.9, top5=94.5))
def preact_resnet152(**kwargs) -> PreActResNet:
    return build_preact_resnet(152, **kwargs)


@register_model(card=_card(200, top1=79.3, top5=94.7))
def preact_resnet200(**kwargs) -> PreActResNet:
    return build_preact_resnet(200, **kwargs)
