"""Inception blocks: parallel branches, concatenated along the channels.

Szegedy et al. 2014 ("Going deeper with convolutions", Fig. 2b): 1x1, 1x1->3x3, 1x1->5x5 and
pool->1x1 in parallel. Inception-v3 (Szegedy et al. 2015, "Rethinking the Inception
Architecture", Fig. 5-7) factorises the big kernels (5x5 -> two 3x3, n x n -> 1 x n then n x 1)
and forks some branches into a 1x3 and a 3x1 half; Inception-v4 and Inception-ResNet-v2
(Szegedy et al. 2016, Fig. 3-20) reuse those shapes, the latter adding a scaled residual.

A block is declared as a table of branches, each a list of steps, so that it reads like the paper's
figure. Two ways to name a branch's layers, because the weight files we load name them both ways:

- ``Seq("branch2", [C(96, 1), C(128, 3)])``: one child ``branch2`` holding the steps by index
  (keys ``branch2.0.conv.weight``, ``branch2.1...``; a single conv is the child itself:
  ``branch1.conv.weight``) - torchvision's GoogLeNet, timm's Inception-v4;
- ``Flat([("branch5x5_1", C(48, 1)), ("branch5x5_2", C(64, 5))])``: each step its own named child
  (keys ``branch5x5_1.conv.weight``) - torchvision's Inception-v3. A list of named steps inside a
  ``Flat`` is a fork: each is applied to the same input and the results are concatenated.

``C(out, kernel, stride=1, padding=None)`` is conv -> batch norm -> ReLU (padding ``None``: "same"
at stride 1, none at stride 2); ``Pool("max"|"avg", kernel, stride, padding)`` keeps the channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

Kernel = int | tuple[int, int]


@dataclass(frozen=True)
class C:
    """A conv-norm-act step: output channels, kernel, stride, padding (None: same at stride 1, else 0)."""

    out: int
    k: Kernel = 1
    s: int = 1
    p: Kernel | None = None

    def padding(self) -> Kernel:
        if self.p is not None:
            return self.p
        if self.s != 1:
            return 0
        return (self.k[0] // 2, self.k[1] // 2) if isinstance(self.k, tuple) else self.k // 2


@dataclass(frozen=True)
class Pool:
    kind: str = "max"  # "max" or "avg"
    k: int = 3
    s: int = 1
    p: int = 0
    ceil: bool = False
    count_include_pad: bool = True

    def build(self) -> nn.Module:
        if self.kind == "max":
            return nn.MaxPool2d(self.k, self.s, self.p, ceil_mode=self.ceil)
        return nn.AvgPool2d(self.k, self.s, self.p, ceil_mode=self.ceil, count_include_pad=self.count_include_pad)


@dataclass(frozen=True)
class Seq:
    name: str
    steps: list


@dataclass(frozen=True)
class Flat:
    steps: list  # (name, C | Pool) pairs; a list of pairs is a fork (outputs concatenated)


class ConvBN(nn.Module):
    """Conv -> BatchNorm -> ReLU with keys ``conv``/``bn`` (torchvision's and timm's ``BasicConv2d``).

    ``norm=False`` (the 2014 papers, before batch norm) gives the conv a bias and no ``bn``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: Kernel,
        stride: int = 1,
        padding: Kernel = 0,
        norm: bool = True,
        eps: float = 1e-3,
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, bias=not norm)
        self.bn = nn.BatchNorm2d(out_ch, eps=eps) if norm else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.out_channels = out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def conv_step(in_ch: int, step: C, norm: bool = True, eps: float = 1e-3) -> ConvBN:
    return ConvBN(in_ch, step.out, step.k, step.s, step.padding(), norm=norm, eps=eps)


class InceptionBlock(nn.Module):
    """Parallel branches from a table (see the module docstring), concatenated along the channels."""

    def __init__(self, in_ch: int, branches: list, norm: bool = True, eps: float = 1e-3):
        super().__init__()
        self.plan: list[list] = []
        self.out_channels = 0
        for branch in branches:
            self.plan.append(self._add_branch(in_ch, branch, norm, eps))

    def _add_branch(self, in_ch: int, branch, norm: bool, eps: float) -> list:
        ch = in_ch
        if isinstance(branch, Seq):
            layers = []
            for step in branch.steps:
                layers.append(step.build() if isinstance(step, Pool) else conv_step(ch, step, norm, eps))
                ch = ch if isinstance(step, Pool) else step.out
            self.add_module(branch.name, layers[0] if len(layers) == 1 else nn.Sequential(*layers))
            self.out_channels += ch
            return [branch.name]
        plan: list = []
        for step in branch.steps:
            if isinstance(step, list):  # fork
                for name, s in step:
                    self.add_module(name, conv_step(ch, s, norm, eps))
                plan.append(tuple(name for name, _ in step))
                ch = sum(s.out for _, s in step)
            else:
                name, s = step
                self.add_module(name, s.build() if isinstance(s, Pool) else conv_step(ch, s, norm, eps))
                plan.append(name)
                ch = ch if isinstance(s, Pool) else s.out
        self.out_channels += ch
        return plan

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for branch in self.plan:
            y = x
            for item in branch:
                if isinstance(item, tuple):
                    y = torch.cat([self._modules[name](y) for name in item], 1)
                else:
                    y = self._modules[item](y)
            outs.append(y)
        return torch.cat(outs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branches(x)


class InceptionResidual(InceptionBlock):
    """Inception-ResNet block (Szegedy et al. 2016, Fig. 10/11/13 and 16/17/19): the concatenated
    branches are projected back to the input width by a 1x1 conv (``conv2d``, with bias), scaled
    by ``scale`` (0.1-0.3, section 3.3: it stabilises training) and added to the input; ReLU after."""

    def __init__(self, in_ch: int, branches: list, scale: float, relu: bool = True, eps: float = 1e-3):
        super().__init__(in_ch, branches, eps=eps)
        self.conv2d = nn.Conv2d(self.out_channels, in_ch, 1)
        self.scale = scale
        self.act = nn.ReLU(inplace=False) if relu else nn.Identity()
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2d(self.branches(x)) * self.scale + x)
