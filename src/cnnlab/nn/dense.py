"""Dense connectivity (Huang, Liu, van der Maaten, Weinberger 2017, "Densely Connected Convolutional
Networks"): layer l receives the concatenation of all earlier feature maps of its block,

    x_l = H_l([x_0, x_1, ..., x_{l-1}])                                    (eq. 2)

H_l is the "DenseNet-B" bottleneck BN-ReLU-1x1 (4k channels)-BN-ReLU-3x3 (k channels) (section 3,
"Bottleneck layers"), k the growth rate. Between blocks a transition BN-ReLU-1x1 conv-2x2 average
pool halves the resolution and multiplies the channels by the compression theta = 0.5 ("DenseNet-C").

Keys are torchvision's (``denselayerN.norm1/conv1/norm2/conv2``, ``transitionN.norm/conv``); the
old dotted keys of torchvision's hosted weight files (``norm.1``, ``conv.2``, ...) are renamed on load.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

# torchvision's hosted DenseNet files still carry the pre-0.3 keys 'denselayer1.norm.1.weight'.
_LEGACY_KEY = re.compile(r"^(norm|relu|conv)\.([12])\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_LEGACY_FULL_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|"
    r"running_var|num_batches_tracked))$"
)


def rename_legacy_keys(state_dict: dict) -> dict:
    """``...denselayerN.norm.1.weight`` -> ``...denselayerN.norm1.weight`` (other keys unchanged, order kept)."""
    return {_LEGACY_FULL_KEY.sub(r"\1\2", k): v for k, v in state_dict.items()}


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (bn_size x growth) - BN-ReLU-3x3 conv (growth), optional dropout."""

    def __init__(self, in_ch: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0):
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_ch, inner, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(inner, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.relu1(self.norm1(x)))

    def tail(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.bottleneck(x))

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            m = _LEGACY_KEY.match(key[len(prefix) :])
            if m:
                state_dict[f"{prefix}{m.group(1)}{m.group(2)}.{m.group(3)}"] = state_dict.pop(key)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output is the input concatenated with every layer's k maps.

    ``memory_efficient=True`` recomputes each layer's concatenation + BN-ReLU-1x1 in the backward pass
    instead of storing it (gradient checkpointing, Pleiss et al. 2017, "Memory-Efficient Implementation
    of DenseNets"): the stored activations grow linearly instead of quadratically with depth.
    """

    def __init__(
        self,
        num_layers: int,
        in_ch: int,
        growth_rate: int,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        memory_efficient: bool = False,
    ):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_ch + i * growth_rate, growth_rate, bn_size, drop_rate)
        self.out_channels = in_ch + num_layers * growth_rate
        self.memory_efficient = memory_efficient

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for _name, layer in self.items():
            if self.memory_efficient and self.training and torch.is_grad_enabled() and not torch.jit.is_scripting():
                features.append(layer.tail(_checkpointed_bottleneck(layer, features)))
            else:
                features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


@torch.jit.unused
def _checkpointed_bottleneck(layer: DenseLayer, features: list[torch.Tensor]) -> torch.Tensor:
    from torch.utils.checkpoint import checkpoint

    return checkpoint(lambda *fs: layer.bottleneck(torch.cat(fs, 1)), *features, use_reentrant=False)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv (compression) - 2x2 average pool, stride 2 (Huang et al. 2017, section 3)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_ch))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, 1, bias=False))
        self.add_module("pool", nn.AvgPool2d(2, 2))
