"""ResNet-18/34 built from plain nn layers, for the analyzer's golden tests.

Independent of the zoo on purpose (a second writing of He et al. 2015, Table 1, against which the
analyzer is checked with hand-computed numbers, ../shared/research/analyzer-anchors.md section 4).
The lecture tables' networks (AlexNet, VGG, the GoogLeNet stem, inception 3a) are
``cnnlab.analysis.lectures``' (the ones ``cnnlab summary lecture:NAME`` prints).
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn
import torch.nn.functional as F


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
    layers = [
        ("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)),
        ("bn1", nn.BatchNorm2d(64)),
        ("relu", nn.ReLU(inplace=True)),
        ("maxpool", nn.MaxPool2d(3, 2, 1)),
    ]
    c_in = 64
    for i, (n, c) in enumerate(zip(blocks, (64, 128, 256, 512))):
        stage = [BasicBlock(c_in if j == 0 else c, c, 2 if (j == 0 and i > 0) else 1) for j in range(n)]
        layers.append((f"layer{i + 1}", nn.Sequential(*stage)))
        c_in = c
    layers += [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(512, 1000))]
    return nn.Sequential(OrderedDict(layers))
