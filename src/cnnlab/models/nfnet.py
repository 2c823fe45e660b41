"""NFNet-F0..F3: normalizer-free ResNets (Brock, De, Smith, Simonyan 2021, "High-Performance
Large-Scale Image Recognition Without Normalization").

No batch norm anywhere. Instead (section 3 and 4.1 of the paper; signal propagation from Brock et al.
2021a): every convolution is a scaled weight-standardized convolution (``cnnlab.nn.ScaledStdConv2d``);
each residual block scales its input by beta = 1/sqrt(Var(x)) (the variance it predicts analytically:
reset to 1 at each transition block, + alpha^2 after each block) and its branch by alpha = 0.2.

    stem       3x3/2 conv 16 -> 3x3 32 -> 3x3 64 -> 3x3/2 128       (GELU between; output stride 4)
    stages     bottleneck blocks (1x1 -> grouped 3x3 -> grouped 3x3 -> 1x1 -> squeeze-excite x2),
               group width 128, bottleneck ratio 0.5, widths 256, 512, 1536, 1536; strides 1, 2, 2, 2
    final_conv 1x1 conv to 2 x 1536 = 3072, GELU -> global average pool -> dropout -> head.fc

F0's depths are (1, 2, 6, 3); F_N multiplies them by N + 1 (paper, section 4.1 / Table 7).
Keys and parameter counts are timm's ``nfnet_f0``..``nfnet_f3`` (F0: 71,489,272). ``dm_nfnet_f0``..``f3``
are the paper's release as timm ports it (``variant="deepmind"``: gamma after each activation, TensorFlow
SAME padding, a learned SkipInit gain per block; F0: 71,489,284), the form of the pretrained files.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CnnlabError
from ..nn import make_activation
from ..nn.residual import NormFreeBottleneck, drop_path_rates
from ..nn.ws_conv import ACTIVATION_GAMMA, ScaledActivation, ScaledStdConv2d
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# NFNet, Brock et al. 2021, section 4.1 / Table 7: blocks per stage of F0; F_N = (N + 1) x F0.
NFNET_F0_DEPTHS = (1, 2, 6, 3)
NFNET_WIDTHS = (256, 512, 1536, 1536)
NFNET_STEM = (16, 32, 64, 128)  # 3x3 convolutions, strides 2, 1, 1, 2
GROUP_WIDTH = 128
BOTTLE_RATIO = 0.5
ALPHA = 0.2
FINAL_MULT = 2  # final 1x1 conv: 2 x last width
# "timm": timm's nfnet_f* (gamma in the convolutions, symmetric padding, no skip gain);
# "deepmind": the paper's release as timm's dm_nfnet_f* port (which carries the pretrained weights).
VARIANTS = ("timm", "deepmind")
# Reported (Table 3: params, FLOPs = multiply-adds, ImageNet top-1 / top-5; train / test resolution, Table 7).
NFNET_REPORTED = {
    0: (71.5e6, 12.38e9, 83.6, 96.8, 192, 256),
    1: (132.6e6, 35.54e9, 84.7, 97.1, 224, 320),
    2: (193.8e6, 62.59e9, 85.1, 97.3, 256, 352),
    3: (254.9e6, 114.76e9, 85.7, 97.5, 320, 416),
}


def _variant_parts(variant: str, act: str, eps: float) -> tuple[dict, dict, Callable[[], nn.Module]]:
    """Where ``variant`` puts the activation gain gamma: the convolutions' keyword arguments, the blocks' extra
    keyword arguments and the factory of the stem's and final activations."""
    gamma = ACTIVATION_GAMMA[act]
    if variant == "deepmind":  # gamma after each activation, TF "SAME" padding, SkipInit gains
        conv: dict = dict(gamma=1.0, eps=eps, padding="same")
        block_kw: dict = dict(act_gamma=gamma, skipinit=True)

        def activation() -> nn.Module:
            return ScaledActivation(make_activation(act), gamma)
    else:  # timm's nfnet_f*: gamma folded into every weight-standardized convolution
        conv, block_kw = dict(gamma=gamma, eps=eps), {}

        def activation() -> nn.Module:
            return make_activation(act)

    return conv, block_kw, activation


def _make_stem(in_chans: int, conv: dict, activation: Callable[[], nn.Module]) -> tuple[nn.Sequential, int]:
    """The stem: four 3x3 convolutions (strides 2, 1, 1, 2) with an activation between each two; and its width."""
    stem: list[tuple[str, nn.Module]] = []
    ch = in_chans
    for i, (out, stride) in enumerate(zip(NFNET_STEM, (2, 1, 1, 2))):
        stem.append((f"conv{i + 1}", ScaledStdConv2d(ch, out, 3, stride, **conv)))
        if i < len(NFNET_STEM) - 1:
            stem.append((f"act{i + 2}", activation()))
        ch = out
    return nn.Sequential(OrderedDict(stem)), ch


class NFNet(Classifier):
    classifier_path = "head.fc"

    def __init__(
        self,
        depths: tuple[int, ...] = NFNET_F0_DEPTHS,
        num_classes: int = 1000,
        in_chans: int = 3,
        act: str = "gelu",
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        eps: float = 1e-5,
        variant: str = "timm",
    ):
        super().__init__(num_classes, in_chans)
        if act not in ACTIVATION_GAMMA:
            raise CnnlabError(
                f"NFNet has no signal-propagation constant for activation {act!r}",
                f"use one of {', '.join(sorted(ACTIVATION_GAMMA))}",
            )
        if variant not in VARIANTS:
            raise CnnlabError(f"unknown NFNet variant {variant!r}", f"use one of {', '.join(VARIANTS)}")
        self.variant = variant
        conv, block_kw, activation = _variant_parts(variant, act, eps)
        self.drop_rate, self.drop_path_rate = drop_rate, drop_path_rate
        self.stem, ch = _make_stem(in_chans, conv, activation)
        self.stages, ch, reduction = self._make_stages(ch, depths, act, drop_path_rate, conv, block_kw)
        self.num_features = FINAL_MULT * ch
        self.final_conv = ScaledStdConv2d(ch, self.num_features, 1, **conv)
        self.final_act = activation()
        self.feature_info[-1] = dict(channels=self.num_features, reduction=reduction, module="final_conv")
        self.head = nn.Module()
        self.head.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _make_stages(
        self, ch: int, depths: tuple[int, ...], act: str, drop_path_rate: float, conv: dict, block_kw: dict
    ) -> tuple[nn.Sequential, int, int]:
        """The four stages of bottleneck blocks, with beta from the variance each block's input is expected to
        have; records each stage in ``feature_info``. Returns the stages, their output channels and stride."""
        rates = drop_path_rates(depths, drop_path_rate)
        stages, reduction = [], 4
        expected_var = 1.0  # Var(x) at the input of the next block, carried across stages
        for i, (width, n) in enumerate(zip(NFNET_WIDTHS, depths)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            blocks = []
            for j in range(n):
                blocks.append(
                    NormFreeBottleneck(
                        ch,
                        width,
                        stride if j == 0 else 1,
                        group_size=GROUP_WIDTH,
                        bottle_ratio=BOTTLE_RATIO,
                        alpha=ALPHA,
                        beta=expected_var**-0.5,
                        act=act,
                        drop_path=rates[i][j],
                        **conv,
                        **block_kw,
                    )
                )
                if j == 0:
                    expected_var = 1.0  # the transition block's shortcut starts a fresh signal
                expected_var += ALPHA**2
                ch = width
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(dict(channels=ch, reduction=reduction, module=f"stages.{i}"))
        return nn.Sequential(*stages), ch, reduction

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="linear")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.final_act(self.final_conv(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        if self.drop_rate > 0:
            x = F.dropout(x, self.drop_rate, self.training)
        return x if pre_logits else self.head.fc(x)


_PAPER = (
    "Brock, De, Smith, Simonyan: High-Performance Large-Scale Image Recognition Without Normalization "
    "(ICML 2021, arXiv:2102.06171)"
)
_DEPARTURES = (
    "activation gain gamma folded into every weight-standardized conv, including the stem's first and the "
    "final 1x1, which no activation precedes (as timm's nfnet_f*; DeepMind applies it after each activation: "
    "dm_nfnet_f*)",
    "symmetric padding (DeepMind's code pads 'SAME', asymmetric at stride 2 on even sizes)",
    "no learned skip gain (SkipInit); the last conv of each branch starts with gain 0 instead",
)

_DM_NOTES = (
    "the DeepMind release as ported by timm (dm_nfnet_f*, whose files carry the pretrained weights): "
    "gamma after each activation, TensorFlow 'SAME' padding, a learned skip gain per block (SkipInit)"
)


def _depths(n: int) -> tuple[int, ...]:
    """F``n``'s blocks per stage: F0's (1, 2, 6, 3) times n + 1."""
    return tuple((n + 1) * d for d in NFNET_F0_DEPTHS)


def _card(n: int, variant: str = "timm") -> ModelCard:
    """The card of NFNet-F``n`` in ``variant`` form: figures from ``NFNET_REPORTED`` (Tables 3 and 7)."""
    params, macs, top1, top5, train, test = NFNET_REPORTED[n]
    dm = variant == "deepmind"
    name = f"{'dm_' if dm else ''}nfnet_f{n}"
    return ModelCard(
        name=name,
        family="NFNet",
        paper=_PAPER,
        year=2021,
        input_size=(3, test, test),
        params=int(params),
        macs=int(macs),
        top1=top1,
        top5=top5,
        timm=name,
        source=f"Brock et al. 2021, Table 3 (params, FLOPs, top-1/top-5 at {test}x{test}); "
        f"train/test resolution {train}/{test} (Table 7)"
        + ("; exact parameter count 71,489,272 = timm nfnet_f0" if n == 0 and not dm else ""),
        departures=() if dm else _DEPARTURES,
        notes=(_DM_NOTES + "; " if dm else "")
        + f"depths {_depths(n)}; no batch norm; options: act, drop_rate, drop_path_rate (stochastic depth)",
    )


@register_model(card=_card(0))
def nfnet_f0(**kwargs) -> NFNet:
    return NFNet(_depths(0), variant="timm", **kwargs)


@register_model(card=_card(0, "deepmind"))
def dm_nfnet_f0(**kwargs) -> NFNet:
    return NFNet(_depths(0), variant="deepmind", **kwargs)


@register_model(card=_card(1))
def nfnet_f1(**kwargs) -> NFNet:
    return NFNet(_depths(1), variant="timm", **kwargs)


@register_model(card=_card(1, "deepmind"))
def dm_nfnet_f1(**kwargs) -> NFNet:
    return NFNet(_depths(1), variant="deepmind", **kwargs)


@register_model(card=_card(2))
def nfnet_f2(**kwargs) -> NFNet:
    return NFNet(_depths(2), variant="timm", **kwargs)


@register_model(card=_card(2, "deepmind"))
def dm_nfnet_f2(**kwargs) -> NFNet:
    return NFNet(_depths(2), variant="deepmind", **kwargs)


@register_model(card=_card(3))
def nfnet_f3(**kwargs) -> NFNet:
    return NFNet(_depths(3), variant="timm", **kwargs)


@register_model(card=_card(3, "deepmind"))
def dm_nfnet_f3(**kwargs) -> NFNet:
    return NFNet(_depths(3), variant="deepmind", **kwargs)
