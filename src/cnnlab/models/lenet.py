"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied to document
recognition", Fig. 2), as the lectures draw it (lecture 004, slide "LeNet-5"; lecture 000, "LeNet-5 (1998)").

    input 1x28x28, zero-padded by 2 to 32x32
    C1  conv 6 @ 5x5        -> 6x28x28     156 params
    S2  subsample 2x2 / 2   -> 6x14x14
    C3  conv 16 @ 5x5       -> 16x10x10    2,416 params (full connectivity)
    S4  subsample 2x2 / 2   -> 16x5x5
    C5  conv 120 @ 5x5      -> 120x1x1     48,120 params
    F6  full 84                            10,164 params
    output 10                              850 params
                                    total  61,706 params

Defaults are the lectures' (tanh, average pooling); ``activation="relu", pool="max"`` gives the
modern variant. The paper's partial C3 connection table is ``lenet5_1998``.

``lenet5_1998``: C3 as the paper's Table I. Each C3 map reads only some S2 maps - the first six
read 3 contiguous maps, the next six 4 contiguous maps, the next three 4 non-contiguous maps, the
last one all 6 - "to break the symmetry in the network" and keep the connections "within
reasonable bounds" (section II.B). 25 x 60 weights + 16 biases = 1,516 parameters instead of
2,416. The table is data (``C3_TABLE``); :class:`ConnectionTableConv` turns it into one grouped
convolution per fan-in (3, 4, 4, 6 inputs per map) over the gathered S2 maps.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..nn import make_activation
from .base import Classifier
from .card import ModelCard
from .registry import register_model

# (name, out channels, kernel, padding) of the convolutions; a pooling layer follows C1 and C3.
LENET5_CONVS = [("c1", 6, 5, 2), ("c3", 16, 5, 0), ("c5", 120, 5, 0)]
LENET5_FULL = [("f6", 84)]

POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class LeNet5(Classifier):
    classifier_path = "output"
    head_pools = ()  # no global_pool choice: the head flattens the C5 map

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        activation: str = "tanh",
        pool: str = "avg",
        drop_rate: float = 0.0,
        c3: nn.Module | None = None,
    ):
        super().__init__(num_classes, in_chans)
        if pool not in POOLS:
            raise CnnlabError(f"LeNet-5: unknown pool {pool!r}", "use pool='avg' (the paper's subsampling) or 'max'")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        ch = in_chans
        for i, (name, out, k, pad) in enumerate(LENET5_CONVS):
            layers[name] = c3 if (name == "c3" and c3 is not None) else nn.Conv2d(ch, out, k, padding=pad)
            layers[f"{name}_act"] = make_activation(activation)
            if i < 2:
                layers[f"s{2 * i + 2}"] = POOLS[pool](2, 2)
            ch = out
        self.features = nn.Sequential(layers)
        head: OrderedDict[str, nn.Module] = OrderedDict()
        for name, width in LENET5_FULL:
            head[name] = nn.Linear(ch, width)
            head[f"{name}_act"] = make_activation(activation)
            ch = width
        head["drop"] = nn.Dropout(drop_rate)
        self.head = nn.Sequential(head)
        self.output = nn.Linear(ch, num_classes)
        self.num_features = LENET5_FULL[-1][1]  # the width before the output layer (pre_logits)
        self.feature_info = [
            dict(channels=6, reduction=2, module="features.s2"),
            dict(channels=16, reduction=4, module="features.s4"),
            dict(channels=120, reduction=28, module="features.c5_act"),
        ]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if not torch.jit.is_scripting():
            _check_c5_output(x)
        x = self.head(torch.flatten(x, 1))
        return x if pre_logits else self.output(x)


# LeCun et al. 1998, Table I: for each C3 feature map (column), the S2 maps it reads.
C3_TABLE: list[tuple[int, ...]] = [
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (0, 4, 5),
    (0, 1, 5),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (0, 3, 4, 5),
    (0, 1, 4, 5),
    (0, 1, 2, 5),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
]


class ConnectionTableConv(nn.Module):
    """A convolution whose output map ``j`` sees only the input maps ``table[j]``.

    Runs of consecutive output maps with the same fan-in share one grouped convolution over the
    input maps gathered in table order (Table I gives 4 runs: 6 x 3, 6 x 4, 3 x 4, 1 x 6 inputs),
    so the parameters are exactly the table's connections and nothing is masked.
    """

    def __init__(self, table: list[tuple[int, ...]], kernel_size: int, in_channels: int | None = None):
        super().__init__()
        in_channels = in_channels if in_channels is not None else max(max(t) for t in table) + 1
        if any(not 0 <= i < in_channels for t in table for i in t):
            raise CnnlabError(f"connection table refers to input maps outside 0..{in_channels - 1}")
        runs: list[tuple[int, int]] = []  # (fan-in, number of output maps)
        for t in table:
            if runs and runs[-1][0] == len(t):
                runs[-1] = (len(t), runs[-1][1] + 1)
            else:
                runs.append((len(t), 1))
        self.table = [tuple(t) for t in table]
        self.register_buffer("gather", torch.tensor([i for t in table for i in t]), persistent=False)
        self.splits = [fan_in * maps for fan_in, maps in runs]
        self.convs = nn.ModuleList(nn.Conv2d(fan_in * maps, maps, kernel_size, groups=maps) for fan_in, maps in runs)
        self.in_channels, self.out_channels = in_channels, len(table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(x.index_select(1, self.gather), self.splits, 1)
        outs = []
        for i, conv in enumerate(self.convs):
            outs.append(conv(chunks[i]))
        return torch.cat(outs, 1)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels} maps, {sum(map(len, self.table))} connections"


def _check_c5_output(x: torch.Tensor) -> None:
    if x.shape[-1] != 1 or x.shape[-2] != 1:
        raise CnnlabError(
            f"LeNet-5 needs a 28x28 input (C5 must see a 5x5 map), but C5 produced {x.shape[-2]}x{x.shape[-1]}",
            "resize the images to 28x28",
        )


@register_model(
    card=ModelCard(
        name="lenet5",
        family="LeNet",
        paper="LeCun et al., Gradient-based learning applied to document recognition",
        year=1998,
        input_size=(1, 28, 28),
        num_classes=10,
        params=61_706,
        macs=416_520,
        dataset="MNIST",
        top1=99.05,
        source="params/MACs: computed from the layer table (full C3); top-1: LeCun et al. 1998, "
        "Fig. 9 (LeNet-5 without distortions, 0.95% test error)",
        departures=(
            "C3 connects to all 6 S2 maps (the paper's table connects each to 3-6 maps: lenet5_1998)",
            "S2/S4 are plain average pooling (the paper's have a trainable coefficient and bias)",
            "output is a linear layer (the paper uses Euclidean RBF units)",
            "tanh is the plain tanh (the paper scales it: 1.7159 tanh(2x/3))",
        ),
    )
)
def lenet5(**kwargs) -> LeNet5:
    return LeNet5(**kwargs)


@register_model(
    card=ModelCard(
        name="lenet5_1998",
        family="LeNet",
        paper="LeCun et al., Gradient-based learning applied to document recognition",
        year=1998,
        input_size=(1, 28, 28),
        num_classes=10,
        params=60_806,
        macs=326_520,
        dataset="MNIST",
        top1=99.05,
        source="C3 connections: the paper's Table I (1,516 parameters); params/MACs computed from the "
        "layer table; top-1: LeCun et al. 1998, Fig. 9 (LeNet-5 without distortions, 0.95% test error)",
        departures=(
            "S2/S4 are plain average pooling (the paper's have a trainable coefficient and bias)",
            "output is a linear layer (the paper uses Euclidean RBF units)",
            "tanh is the plain tanh (the paper scales it: 1.7159 tanh(2x/3))",
        ),
    )
)
def lenet5_1998(**kwargs) -> LeNet5:
    return LeNet5(c3=ConnectionTableConv(C3_TABLE, 5, in_channels=6), **kwargs)
