"""The lectures' networks built from plain nn layers, for the analyzer's golden tests.

Independent of the zoo on purpose: these are the exact layer lists of lecture 004's tables
(AlexNet at 227 with 96/256/384/384/256 filters, VGG-16 configuration D, the GoogLeNet stem,
inception 3a, ResNet-18/34), so the analyzer is checked against hand-computed numbers
(../shared/research/analyzer-anchors.md section 4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def alexnet_lecture(conv1_pad: int = 0, filters=(96, 256, 384, 384, 256)) -> nn.Sequential:
    """AlexNet as lecture 004 tabulates it (Krizhevsky et al. 2012, single tower), names as the table."""
    c1, c2, c3, c4, c5 = filters
    return nn.Sequential(_named([
        ("conv1", nn.Conv2d(3, c1, 11, 4, conv1_pad)), ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(3, 2)),
        ("conv2", nn.Conv2d(c1, c2, 5, 1, 2)), ("relu2", nn.ReLU(inplace=True)), ("pool2", nn.MaxPool2d(3, 2)),
        ("conv3", nn.Conv2d(c2, c3, 3, 1, 1)), ("relu3", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(c3, c4, 3, 1, 1)), ("relu4", nn.ReLU(inplace=True)),
        ("conv5", nn.Conv2d(c4, c5, 3, 1, 1)), ("relu5", nn.ReLU(inplace=True)), ("pool5", nn.MaxPool2d(3, 2)),
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(c5 * 36, 4096)), ("relu6", nn.ReLU(inplace=True)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)),
        ("fc8", nn.Linear(4096, 1000)),
    ]))


def _named(items):
    from collections import OrderedDict

    return OrderedDict(items)


# Simonyan & Zisserman 2014, Table 1: configurations A (VGG-11), B (13), D (16), E (19); "M" = max-pool.
VGG_CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def vgg(depth: int = 16) -> nn.Sequential:
    """VGG with the lecture's layer names (conv1_1 ... pool5, fc6 ... fc8)."""
    layers, c_in, stage, idx = [], 3, 1, 1
    for v in VGG_CONFIGS[depth]:
        if v == "M":
            layers.append((f"pool{stage}", nn.MaxPool2d(2, 2)))
            stage, idx = stage + 1, 1
        else:
            layers += [(f"conv{stage}_{idx}", nn.Conv2d(c_in, v, 3, 1, 1)),
                       (f"relu{stage}_{idx}", nn.ReLU(inplace=True))]
            c_in, idx = v, idx + 1
    layers += [("flatten", nn.Flatten()), ("fc6", nn.Linear(512 * 49, 4096)), ("relu6", nn.ReLU(inplace=True)),
               ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)), ("fc8", nn.Linear(4096, 1000))]
    return nn.Sequential(_named(layers))


def googlenet_stem() -> nn.Sequential:
    """Szegedy et al. 2014, Table 1, up to 28 x 28 (max-pools in ceil mode, as torchvision)."""
    return nn.Sequential(_named([
        ("conv1", nn.Conv2d(3, 64, 7, 2, 3)), ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("conv2", nn.Conv2d(64, 64, 1)), ("relu2", nn.ReLU(inplace=True)),
        ("conv3", nn.Conv2d(64, 192, 3, 1, 1)), ("relu3", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(3, 2, ceil_mode=True)),
    ]))


class Inception(nn.Module):
    """Inception module (GoogLeNet, Table 1), without biases as the lecture counts it: 1x1, 1x1->3x3,
    1x1->5x5, 3x3 max-pool->1x1, concatenated."""

    def __init__(self, c_in=192, c1=64, c3r=96, c3=128, c5r=16, c5=32, pool_proj=32):
        super().__init__()
        self.b1 = nn.Conv2d(c_in, c1, 1, bias=False)
        self.b2 = nn.Sequential(nn.Conv2d(c_in, c3r, 1, bias=False), nn.Conv2d(c3r, c3, 3, padding=1, bias=False))
        self.b3 = nn.Sequential(nn.Conv2d(c_in, c5r, 1, bias=False), nn.Conv2d(c5r, c5, 5, padding=2, bias=False))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c_in, pool_proj, 1, bias=False))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], 1)


class BasicBlock(nn.Module):
    """He et al. 2015, Fig. 2 / Table 1 (option B shortcut when the shape changes), as torchvision."""

    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        y += x if self.down is None else self.down(x)  # in-place residual add
        return F.relu(y, inplace=True)


def resnet(blocks=(2, 2, 2, 2)) -> nn.Sequential:
    """ResNet-18 (2,2,2,2) / ResNet-34 (3,4,6,3), He et al. 2015, Table 1."""
    layers = [("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)), ("bn1", nn.BatchNorm2d(64)),
              ("relu", nn.ReLU(inplace=True)), ("maxpool", nn.MaxPool2d(3, 2, 1))]
    c_in = 64
    for i, (n, c) in enumerate(zip(blocks, (64, 128, 256, 512))):
        stage = [BasicBlock(c_in if j == 0 else c, c, 2 if (j == 0 and i > 0) else 1) for j in range(n)]
        layers.append((f"layer{i + 1}", nn.Sequential(*stage)))
        c_in = c
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(512, 1000))]
    return nn.Sequential(_named(layers))
