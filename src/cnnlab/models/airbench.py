"""The airbench94 network for CIFAR-10 (Keller Jordan 2024, "94% on CIFAR-10 in 3.29 Seconds on a
Single GPU", arXiv 2404.00498; github.com/KellerJordan/cifar10-airbench), which refines tysam-code's
hlb-CIFAR10 and David Page's ResNet-9 ("How to train your ResNet", Myrtle.ai 2018). The network of
the ``fast-cifar`` (Muon) and ``fast-cifar-sgd`` recipes.

    input 3x32x32 (normalised)
    whiten  conv 2x2, 24 channels, no padding   -> 24x31x31   weights = +-eigenvectors of the
            2x2-patch covariance / sqrt(eigenvalue + 5e-4), frozen; bias trained 3 epochs; GELU
    group1  conv 3x3 64, maxpool 2, BN, GELU, conv 3x3 64, BN, GELU        -> 64x15x15
    group2  conv 3x3 256, maxpool 2, BN, GELU, conv 3x3 256, BN, GELU      -> 256x7x7
    group3  conv 3x3 256, maxpool 2, BN, GELU, conv 3x3 256, BN, GELU      -> 256x3x3
    head    maxpool 3 -> 256, linear 10 (no bias), x 1/9 (airbench94, ``fast-cifar-sgd``)
            (airbench94_muon, ``fast-cifar``: x 1/256 with the head's weights rescaled to
            standard deviation 1, model args ``scale`` and ``head_std``)

Batch norm: eps 1e-12, momentum 0.6 in airbench's convention (0.4 in PyTorch's), the scale frozen
at 1 and only the shift trained. Convolutions have no bias and start with an identity (Dirac)
kernel on their first ``in_channels`` filters, "an implicit residual". 0.118 GMAC per image.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..errors import CnnlabError
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# (name, output channels) of the three conv groups: airbench94's widths 64, 256, 256 (base width 64)
AIRBENCH94_GROUPS = [("group1", 64), ("group2", 256), ("group3", 256)]


class FrozenScaleBatchNorm(nn.BatchNorm2d):
    """Batch norm whose scale stays 1 (airbench trains only the shift)."""

    def __init__(self, channels: int, eps: float = 1e-12, momentum: float = 0.6):
        # airbench states momentum as the weight of the old statistics; PyTorch's is the new ones'
        super().__init__(channels, eps=eps, momentum=1.0 - momentum)
        self.weight.requires_grad_(False)


class DiracConv(nn.Conv2d):
    """3x3 'same' convolution without bias, identity on its first ``in_channels`` filters at init."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(in_ch, out_ch, 3, padding=1, bias=False)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        n = min(self.in_channels, self.out_channels)
        nn.init.dirac_(self.weight.data[:n])


class ConvGroup(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, bn_momentum: float):
        super().__init__()
        self.conv1 = DiracConv(in_ch, out_ch)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = FrozenScaleBatchNorm(out_ch, momentum=bn_momentum)
        self.conv2 = DiracConv(out_ch, out_ch)
        self.norm2 = FrozenScaleBatchNorm(out_ch, momentum=bn_momentum)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class AirbenchNet(Classifier):
    classifier_path = "fc"
    head_pools = ()  # no global_pool choice: the head is a 3 x 3 max pool

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        width: float = 1.0,
        whiten_kernel: int = 2,
        bn_momentum: float = 0.6,
        scale: float = 1 / 9,
        whiten_bias_epochs: int = 3,
        drop_rate: float = 0.0,
        head_std: float = 0.0,
    ):
        super().__init__(num_classes, in_chans)
        k = whiten_kernel
        self.whiten = nn.Conv2d(in_chans, 2 * in_chans * k * k, k, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)
        nn.init.zeros_(self.whiten.bias)
        self.whiten_act = nn.GELU()
        ch = self.whiten.out_channels
        groups, info, reduction = [], [], 1
        for name, out in AIRBENCH94_GROUPS:
            out = int(round(out * width))
            groups.append((name, ConvGroup(ch, out, bn_momentum)))
            reduction *= 2
            info.append(dict(channels=out, reduction=reduction, module=name))
            ch = out
        for name, g in groups:
            self.add_module(name, g)
        self.group_names = [n for n, _ in groups]
        self.pool = nn.MaxPool2d(3)
        self.drop = nn.Dropout(drop_rate)  # airbench has none; kept for the zoo's common options
        self.fc = nn.Linear(ch, num_classes, bias=False)
        if head_std:  # airbench94_muon: head weights rescaled to this standard deviation (with scale 1/256)
            with torch.no_grad():
                self.fc.weight.mul_(head_std / self.fc.weight.std())
        self.scale = scale
        self.num_features = ch
        self.feature_info = info
        self.whiten_bias_epochs = whiten_bias_epochs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.whiten_act(self.whiten(x))
        for name in self.group_names:
            x = getattr(self, name)(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        if pre_logits or isinstance(self.fc, nn.Identity):  # reset_classifier(0): a feature extractor
            return x
        return self.fc(self.drop(x)) * self.scale

    # -- training hooks called by cnnlab.train ------------------------------------------------
    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Whitening init: the 2x2-patch covariance's eigenvectors / sqrt(eigenvalue + eps), and their negatives."""
        c, (kh, kw) = images.shape[1], self.whiten.kernel_size
        if c != self.in_chans:
            raise CnnlabError(f"airbench whitening: images have {c} channels, the network {self.in_chans}")
        d = c * kh * kw
        cov = torch.zeros(d, d, dtype=torch.float64)
        count = 0
        for chunk in images.split(500):  # float64 accumulation without a float64 copy of every patch
            patches = chunk.float().unfold(2, kh, 1).unfold(3, kw, 1)  # N, C, H', W', kh, kw
            patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, d).double()
            cov += patches.T @ patches
            count += patches.shape[0]
        cov /= count
        eigval, eigvec = torch.linalg.eigh(cov)  # ascending
        eigval, eigvec = eigval.flip(0), eigvec.flip(1)  # largest first
        w = (eigvec.T / torch.sqrt(eigval.clamp_min(0) + eps).unsqueeze(1)).reshape(-1, c, kh, kw)
        self.whiten.weight.copy_(torch.cat([w, -w]).to(self.whiten.weight.dtype))

    def set_epoch(self, epoch: int) -> None:
        """Train the whitening bias for the first ``whiten_bias_epochs`` epochs (0-based ``epoch``), then freeze it."""
        self.whiten.bias.requires_grad_(epoch < self.whiten_bias_epochs)


@register_model(
    card=ModelCard(
        name="airbench",
        family="airbench",
        paper="Jordan, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU (arXiv 2404.00498)",
        year=2024,
        input_size=(3, 32, 32),
        num_classes=10,
        params=1_972_792,
        macs=118_147_360,
        top1=94.01,
        dataset="CIFAR-10",
        source="architecture and accuracy: airbench94 (github.com/KellerJordan/cifar10-airbench, 94.01% mean of "
        "1,000 runs with its recipe and 6-view test-time augmentation); builds on tysam-code/hlb-CIFAR10; "
        "params/MACs: computed from the layer table",
        departures=("trained in bf16 autocast with fp32 weights (airbench: fp16 weights, fp32 batch norm)",),
        notes="train with the fast-cifar recipe: the whitening layer is initialised from the training images",
    )
)
def airbench(**kwargs) -> AirbenchNet:
    return AirbenchNet(**kwargs)
