"""DenseNet-BC for ImageNet (Huang, Liu, van der Maaten, Weinberger 2017, Table 1), torchvision-compatible.

    conv0   7x7/2 conv (2k channels) -> norm0 -> relu0 -> pool0 3x3/2 max     112x112 -> 56x56
    denseblock1 .. denseblock4, with transition1..3 (1x1 conv, channels x 0.5, 2x2/2 avg pool)
    norm5   BN -> ReLU -> global average pool -> classifier (linear)

Keys are torchvision's ``features.<name>`` Sequential with named children and ``classifier``.
Torchvision's models need at least 29x29 pixels (the third transition pools a 2x2 map to 1x1).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn.dense import DenseBlock, Transition, rename_legacy_keys
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# DenseNet, Huang et al. 2017, Table 1 (ImageNet): growth rate k, layers per dense block, initial
# features (2k). DenseNet-161 (k = 48) is the authors' released model, not in Table 1.
DENSENET = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
}
BN_SIZE = 4  # bottleneck width 4k (section 3, "Bottleneck layers")
COMPRESSION = 0.5  # theta (section 3, "Compression")


class DenseNet(Classifier):
    classifier_path = "classifier"

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        num_classes: int = 1000,
        in_chans: int = 3,
        bn_size: int = BN_SIZE,
        dense_drop_rate: float = 0.0,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ):
        super().__init__(num_classes, in_chans)
        self.drop_rate = drop_rate
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv0=nn.Conv2d(in_chans, num_init_features, 7, 2, 3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features),
            relu0=nn.ReLU(inplace=True),
            pool0=nn.MaxPool2d(3, 2, 1),
        )
        ch, reduction = num_init_features, 4
        for i, n in enumerate(block_config):
            block = DenseBlock(n, ch, growth_rate, bn_size, dense_drop_rate, memory_efficient)
            layers[f"denseblock{i + 1}"] = block
            ch = block.out_channels
            last = i == len(block_config) - 1
            self.feature_info.append(
                dict(
                    channels=ch, reduction=reduction, module="features.norm5" if last else f"features.denseblock{i + 1}"
                )
            )
            if not last:
                out = int(ch * COMPRESSION)
                layers[f"transition{i + 1}"] = Transition(ch, out)
                ch, reduction = out, reduction * 2
        layers["norm5"] = nn.BatchNorm2d(ch)
        self.features = nn.Sequential(layers)
        self.num_features = ch
        self.classifier = nn.Linear(ch, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.features(x))

    @torch.jit.unused
    def convert_weights(self, state_dict: dict, source: str) -> dict:
        """For ``load_weights``: torchvision's hosted files (``densenet121-a639ec97.pth``) use the old
        dotted keys ``denselayerN.norm.1`` / ``conv.2``; rename them (timm's files are already new-style)."""
        return rename_legacy_keys(state_dict)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.classifier(x)


_PAPER = (
    "Huang, Liu, van der Maaten, Weinberger: Densely Connected Convolutional Networks (CVPR 2017, arXiv:1608.06993)"
)


def _card(name: str, **figures) -> ModelCard:
    """A DenseNet card; ``figures`` (params, macs, top1, top5) are from torchvision's docs,
    DenseNet*_Weights.IMAGENET1K_V1 (ported from LuaTorch): num_params, GFLOPS, acc@1, acc@5."""
    k, blocks, _ = DENSENET[name]
    return ModelCard(
        name=name,
        family="DenseNet",
        paper=_PAPER,
        year=2016,
        input_size=(3, 224, 224),
        torchvision=name,
        timm=name,
        source=f"torchvision {name} docs, IMAGENET1K_V1 weights (acc@1/acc@5, num_params, GFLOPS = multiply-adds)",
        notes=f"growth rate k={k}, dense blocks {blocks}, bottleneck 4k, compression 0.5; options: "
        "dense_drop_rate (dropout after each dense layer, the paper's C10/C100 setting), drop_rate (head), "
        "memory_efficient (gradient checkpointing, same keys as torchvision's); minimum input 29x29",
        **figures,
    )


@register_model(card=_card("densenet121", params=7_978_856, macs=2_830_000_000, top1=74.434, top5=91.972))
def densenet121(**kwargs) -> DenseNet:
    return DenseNet(*DENSENET["densenet121"], **kwargs)


@register_model(
    card=_card(
        "densenet161",
        params=28_681_000,
        macs=7_730_000_000,
        top1=77.138,
        top5=93.560,
        departures=("DenseNet-161 (k=48, 96 initial features) is from the authors' released models, not Table 1",),
    )
)
def densenet161(**kwargs) -> DenseNet:
    return DenseNet(*DENSENET["densenet161"], **kwargs)


@register_model(card=_card("densenet169", params=14_149_480, macs=3_360_000_000, top1=75.600, top5=92.806))
def densenet169(**kwargs) -> DenseNet:
    return DenseNet(*DENSENET["densenet169"], **kwargs)


@register_model(card=_card("densenet201", params=20_013_928, macs=4_290_000_000, top1=76.896, top5=93.370))
def densenet201(**kwargs) -> DenseNet:
    return DenseNet(*DENSENET["densenet201"], **kwargs)
