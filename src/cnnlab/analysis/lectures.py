"""The networks of the lectures' tables, by name (``lecture:NAME``), with the printed errors noted.

These are not zoo models (the zoo holds the papers' and torchvision's networks): they are the exact
layer lists lecture 004 tabulates by hand, so that ``cnnlab summary lecture:alexnet`` prints the
lecture's table and says where the printed numbers are wrong (checked against the formulas in
../shared/research/analyzer-anchors.md, sections 4-6).

    cnnlab summary lecture:alexnet --preset lecture          # 227 x 227, conv1 pad 0
    cnnlab compare lecture:googlenet_stem lecture:vgg16 --stages
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import UnknownNameError
from ..models.vgg import VGG_CONFIGS

PREFIX = "lecture:"


@dataclass(frozen=True)
class LectureNet:
    name: str
    build: Callable[[], nn.Module]
    input_size: tuple[int, int, int]
    what: str
    errata: tuple[str, ...] = ()


def alexnet_lecture(conv1_pad: int = 0, filters: tuple[int, ...] = (96, 256, 384, 384, 256)) -> nn.Sequential:
    """AlexNet as lecture 004 tabulates it (Krizhevsky et al. 2012, one tower), named as the table's rows;
    ``filters``: the five convolutions' widths (Johnson's slide: 64, 192, 384, 256, 256)."""
    c1, c2, c3, c4, c5 = filters
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(3, c1, 11, 4, conv1_pad)),
                ("relu1", nn.ReLU(inplace=True)),
                ("pool1", nn.MaxPool2d(3, 2)),
                ("conv2", nn.Conv2d(c1, c2, 5, 1, 2)),
                ("relu2", nn.ReLU(inplace=True)),
                ("pool2", nn.MaxPool2d(3, 2)),
                ("conv3", nn.Conv2d(c2, c3, 3, 1, 1)),
                ("relu3", nn.ReLU(inplace=True)),
                ("conv4", nn.Conv2d(c3, c4, 3, 1, 1)),
                ("relu4", nn.ReLU(inplace=True)),
                ("conv5", nn.Conv2d(c4, c5, 3, 1, 1)),
                ("relu5", nn.ReLU(inplace=True)),
                ("pool5", nn.MaxPool2d(3, 2)),
                ("flatten", nn.Flatten()),
                ("fc6", nn.Linear(c5 * 36, 4096)),
                ("relu6", nn.ReLU(inplace=True)),
                ("fc7", nn.Linear(4096, 4096)),
                ("relu7", nn.ReLU(inplace=True)),
                ("fc8", nn.Linear(4096, 1000)),
            ]
        )
    )


def vgg(depth: int = 16) -> nn.Sequential:
    """VGG of Simonyan & Zisserman 2014, Table 1 (``VGG_CONFIGS``; 16 = configuration D), with the
    lecture's layer names (conv1_1 ... pool5, fc6 ... fc8)."""
    layers, c_in, stage, idx = [], 3, 1, 1
    for v in VGG_CONFIGS[depth]:
        if v == "M":
            layers.append((f"pool{stage}", nn.MaxPool2d(2, 2)))
            stage, idx = stage + 1, 1
        else:
            layers += [
                (f"conv{stage}_{idx}", nn.Conv2d(c_in, v, 3, 1, 1)),
                (f"relu{stage}_{idx}", nn.ReLU(inplace=True)),
            ]
            c_in, idx = v, idx + 1
    layers += [
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(512 * 49, 4096)),
        ("relu6", nn.ReLU(inplace=True)),
        ("fc7", nn.Linear(4096, 4096)),
        ("relu7", nn.ReLU(inplace=True)),
        ("fc8", nn.Linear(4096, 1000)),
    ]
    return nn.Sequential(OrderedDict(layers))


def googlenet_stem() -> nn.Sequential:
    """Szegedy et al. 2014, Table 1, up to 28 x 28; max-pools in ceil mode as torchvision."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(3, 64, 7, 2, 3)),
                ("relu1", nn.ReLU(inplace=True)),
                ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)),
                ("conv2", nn.Conv2d(64, 64, 1)),
                ("relu2", nn.ReLU(inplace=True)),
                ("conv3", nn.Conv2d(64, 192, 3, 1, 1)),
                ("relu3", nn.ReLU(inplace=True)),
                ("pool2", nn.MaxPool2d(3, 2, ceil_mode=True)),
            ]
        )
    )


class Inception(nn.Module):
    """An inception module (GoogLeNet, Table 1; default: 3a, 64, 96->128, 16->32, pool->32), no biases as the
    lecture counts: 1x1, 1x1->3x3, 1x1->5x5 and 3x3 max-pool->1x1, concatenated."""

    def __init__(
        self,
        c_in: int = 192,
        c1: int = 64,
        c3r: int = 96,
        c3: int = 128,
        c5r: int = 16,
        c5: int = 32,
        pool_proj: int = 32,
    ):
        super().__init__()
        self.branch1 = nn.Conv2d(c_in, c1, 1, bias=False)
        self.branch3 = nn.Sequential(nn.Conv2d(c_in, c3r, 1, bias=False), nn.Conv2d(c3r, c3, 3, padding=1, bias=False))
        self.branch5 = nn.Sequential(nn.Conv2d(c_in, c5r, 1, bias=False), nn.Conv2d(c5r, c5, 5, padding=2, bias=False))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(c_in, pool_proj, 1, bias=False))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], 1)


class _InceptionNaive(nn.Module):
    """The naive inception module (Szegedy et al. 2014, Fig. 2a) with 3a's widths: 1x1 64, 3x3 128, 5x5 32 and
    a 3x3 max pool that passes all 192 input channels; no 1x1 reductions, no biases."""

    def __init__(self):
        super().__init__()
        self.branch1 = nn.Conv2d(192, 64, 1, bias=False)
        self.branch3 = nn.Conv2d(192, 128, 3, padding=1, bias=False)
        self.branch5 = nn.Conv2d(192, 32, 5, padding=2, bias=False)
        self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], 1)


def _mlp_1080p(layers: int) -> nn.Sequential:
    """1080p RGB image in, one out: 3 x 1080 x 1920 = 6,220,800 features, no bias (lecture 000, "Recap: MLPs")."""
    d = 3 * 1080 * 1920
    if torch.empty(0).device.type != "meta":
        from ..errors import CnnlabError

        raise CnnlabError(
            f"lecture:mlp1080p holds {layers} x 38.7 T parameters (155 TB each in float32): it can "
            "only be counted on the meta device",
            "leave out --device cpu and --time",
        )
    return nn.Sequential(nn.Flatten(), *[nn.Linear(d, d, bias=False) for _ in range(layers)])


NETS = {
    n.name: n
    for n in [
        LectureNet(
            "alexnet",
            alexnet_lecture,
            (3, 227, 227),
            "AlexNet per-layer table (lecture 004), 227 x 227, conv1 pad 0",
            (
                "lecture 004 labels conv1 'P=2', but its numbers (55 x 55, 1134 KB, 35 k, 105 M) are this "
                "pad-0 row; with pad 2 see lecture:alexnet_pad2",
            ),
        ),
        LectureNet(
            "alexnet_pad2",
            lambda: alexnet_lecture(2),
            (3, 227, 227),
            "the same AlexNet with conv1 pad 2",
            (
                "conv1 gives 56 x 56: 1176 KB and 109.3 M multiply-adds; pool1 then floors 56 to 27 (a row and "
                "a column are never read) and everything after is as with pad 0",
                "'56, 1176 KB, 35k, 118 MFLOP' (as quoted from Johnson's slide): 118 M is the GoogLeNet stem's "
                "conv1; with 96 filters it is 109.3 M, with Johnson's 64 filters 72.9 M",
            ),
        ),
        LectureNet(
            "vgg16",
            vgg,
            (3, 224, 224),
            "VGG-16 (configuration D) per-layer table, 224 x 224",
            (
                "lecture 004 prints 13.6 GFLOPs: that leaves out conv3_3 (1.85 G); the total is 15.47 G "
                "multiply-adds (30.94 G as 2-op FLOPs)",
                "its 'first stages' 42.9 MB / 1.1 M / 7485 MFLOP also leave out conv3_3 and the pools: up to "
                "28 x 28 it is 51.3 MB / 1.74 M / 9,335 M (cnnlab compare lecture:googlenet_stem "
                "lecture:vgg16 --stages)",
            ),
        ),
        LectureNet(
            "googlenet_stem",
            googlenet_stem,
            (3, 224, 224),
            "GoogLeNet stem, 224 -> 28 (lecture 004)",
            (
                "lecture 004 prints 418 MFLOP: a digit transposition of 481 (477.7 M multiply-adds + 3.2 M "
                "pooling window operations); 7.5 MB and 124 K are right",
            ),
        ),
        LectureNet("inception3a", Inception, (192, 28, 28), "inception 3a on 28 x 28 x 192 (0.16 M / 128 M)"),
        LectureNet(
            "inception3a_naive",
            _InceptionNaive,
            (192, 28, 28),
            "the naive inception module (Fig. 2a) with 3a's widths: 0.39 M / 303 M, 416 output channels "
            "(compare with lecture:inception3a)",
        ),
        LectureNet(
            "conv3x3_192_256",
            lambda: nn.Conv2d(192, 256, 3, padding=1, bias=False),
            (192, 28, 28),
            "a plain 3 x 3 conv 192 -> 256 on 28 x 28, the inception comparison (0.44 M / 346.8 M)",
        ),
        LectureNet(
            "conv5x5_192_256",
            lambda: nn.Conv2d(192, 256, 5, padding=2, bias=False),
            (192, 28, 28),
            "a plain 5 x 5 conv 192 -> 256 on 28 x 28, the inception comparison",
            ("lecture 004 prints 1.22 M parameters: 1,228,800 rounds to 1.23 M",),
        ),
        LectureNet(
            "mlp1080p",
            lambda: _mlp_1080p(1),
            (3, 1080, 1920),
            "lecture 000's 1-layer MLP from a 1080p RGB image to one (38.7 T params, 77.4 T FLOPs); "
            "build it on the meta device only",
        ),
        LectureNet(
            "mlp1080p_x10",
            lambda: _mlp_1080p(10),
            (3, 1080, 1920),
            "lecture 000's 10 such layers (its training estimate: --train-cost --images 1000000 --epochs 100 "
            "--train-factor 2 --hardware h100)",
            (
                "1.5e23 FLOPs counts 2 x the forward FLOPs per training step (1.55e23); with the usual 3 x "
                "it is 2.32e23, 110 years on one H100 at 67 TFLOPS",
            ),
        ),
        LectureNet(
            "conv5x5_100_x10",
            lambda: nn.Sequential(*[nn.Conv2d(100, 100, 5, padding=2, bias=False) for _ in range(10)]),
            (100, 64, 64),
            "lecture 001's 10 conv layers, 100 -> 100 channels, 5 x 5, 64 x 64 (1.02 G MACs each; '10 PF' for "
            "1M examples)",
            (
                "the slide counts a multiply-add as one FLOP and the forward pass only: 10 x 1.024e9 x 1e6 = "
                "1.02e16 (18.96 h at 0.15 TFLOPS, 14.2 min at 12 TFLOPS; the slide's 18 h is 10 PF / 0.15 TF "
                "= 18.5 h)",
            ),
        ),
        LectureNet(
            "conv5x5_exercise",
            lambda: nn.Conv2d(3, 6, 5, padding=2),
            (3, 28, 28),
            "the exercise: 6 filters 5 x 5 on 28 x 28 x 3, pad 2",
            (
                "lecture 004 prints 460,800 multiply-adds = 6 x 32 x 32 x 75 (a 32 x 32 output); the output is "
                "28 x 28, so 352,800 (357,504 with the bias add counted)",
            ),
        ),
    ]
}


def is_lecture_name(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def lecture_net(name: str) -> LectureNet:
    key = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    if key not in NETS:
        raise UnknownNameError("lecture network", name, [PREFIX + n for n in NETS], "cnnlab summary --help")
    return NETS[key]
