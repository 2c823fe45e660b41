"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions", Table 1 and Fig. 3; lecture 004
"GoogLeNet": stem, inception modules, global average pooling, auxiliary classifiers).

The inception rows are the paper's Table 1 columns (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5,
pool proj); each row is one :class:`~cnnlab.nn.inception.InceptionBlock` with four branches.

- ``googlenet``: torchvision's form (same keys, so ``googlenet-1378be20.pth`` loads): batch norm
  (eps 1e-3) after every conv, the "5x5" branch is a 3x3 (vision #906), the last max pool is 2x2.
  torchvision's weights expect its hidden ``transform_input``; here nothing is hidden: loading a
  torchvision file folds that transform into the first convolution (``convert_weights``), so the
  model takes the usual ImageNet-normalised input.
- ``googlenet_paper``: the paper's form: no batch norm (convs with bias), a real 5x5 branch, local
  response normalization in the stem (after pool1 and after conv3, as in the authors' Caffe model),
  3x3/2 max pools, 40% dropout.

``aux_logits=True`` adds the two auxiliary classifiers (on 4a and 4d, Fig. 3: average pool to 4x4,
1x1 conv 128, fc 1024, 70% dropout, fc); in training mode the forward then returns
``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` like torchvision (weight their losses by 0.3,
section 5 of the paper); in eval mode it returns the logits only.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..nn.inception import C, ConvBN, InceptionBlock, Pool, Seq
from ..nn.lrn import paper_lrn
from .base import AuxHeadsClassifier
from .card import ModelCard
from .registry import register_model
from .weights import TORCHVISION_TRANSFORM_INPUT, fold_input_affine

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; "M" = 3x3/2 max pool
GOOGLENET_TABLE = [
    ("inception3a", 64, 96, 128, 16, 32, 32),
    ("inception3b", 128, 128, 192, 32, 96, 64),
    "maxpool3",
    ("inception4a", 192, 96, 208, 16, 48, 64),
    ("inception4b", 160, 112, 224, 24, 64, 64),
    ("inception4c", 128, 128, 256, 24, 64, 64),
    ("inception4d", 112, 144, 288, 32, 64, 64),
    ("inception4e", 256, 160, 320, 32, 128, 128),
    "maxpool4",
    ("inception5a", 256, 160, 320, 32, 128, 128),
    ("inception5b", 384, 192, 384, 48, 128, 128),
]


def inception_module(
    in_ch: int, c1: int, r3: int, c3: int, r5: int, c5: int, pp: int, k5: int, norm: bool
) -> InceptionBlock:
    """Fig. 2b: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated."""
    return InceptionBlock(
        in_ch,
        [
            Seq("branch1", [C(c1, 1)]),
            Seq("branch2", [C(r3, 1), C(c3, 3)]),
            Seq("branch3", [C(r5, 1), C(c5, k5)]),
            Seq("branch4", [Pool("max", 3, 1, 1, ceil=True), C(pp, 1)]),
        ],
        norm=norm,
    )


class GoogLeNetOutputs(NamedTuple):
    logits: torch.Tensor
    aux_logits2: torch.Tensor | None
    aux_logits1: torch.Tensor | None


class InceptionAux(nn.Module):
    """Auxiliary classifier (section 5): avg pool to 4x4, 1x1 conv 128, fc 1024 + ReLU, dropout 70%, fc."""

    def __init__(self, in_ch: int, num_classes: int, norm: bool, drop_rate: float = 0.7):
        super().__init__()
        self.conv = ConvBN(in_ch, 128, 1, norm=norm)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(F.adaptive_avg_pool2d(x, (4, 4))), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


class GoogLeNet(AuxHeadsClassifier):
    classifier_path = "fc"
    first_conv = "conv1.conv"
    aux_loss_weight = 0.3  # section 5: "their loss is added to the total loss of the network with a discount weight"

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = False,
        drop_rate: float = 0.2,
        batch_norm: bool = True,
        branch3_kernel: int = 3,
        lrn: bool = False,
        last_pool: int = 2,
    ):
        super().__init__(num_classes, in_chans)
        self.aux_logits = aux_logits
        self.batch_norm = batch_norm
        self.conv1 = ConvBN(in_chans, 64, 7, 2, 3, norm=batch_norm)
        self.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.lrn1 = paper_lrn(alpha=2e-5, k=1.0) if lrn else nn.Identity()  # Caffe's LRN: alpha/n = 1e-4/5, k=1
        self.conv2 = ConvBN(64, 64, 1, norm=batch_norm)
        self.conv3 = ConvBN(64, 192, 3, 1, 1, norm=batch_norm)
        self.lrn2 = paper_lrn(alpha=2e-5, k=1.0) if lrn else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        ch = 192
        self.blocks: list[str] = []
        for row in GOOGLENET_TABLE:
            if row == "maxpool3":
                self.maxpool3 = nn.MaxPool2d(3, 2, ceil_mode=True)
            elif row == "maxpool4":
                self.maxpool4 = nn.MaxPool2d(last_pool, 2, ceil_mode=True)
            else:
                block = inception_module(ch, *row[1:], k5=branch3_kernel, norm=batch_norm)
                self.add_module(row[0], block)
                ch = block.out_channels
            self.blocks.append(row if isinstance(row, str) else row[0])
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, batch_norm)
            self.aux2 = InceptionAux(528, num_classes, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(drop_rate)
        self.fc = nn.Linear(ch, num_classes)
        self.num_features = ch
        self.feature_info = [
            dict(channels=192, reduction=4, module="conv3"),
            dict(channels=480, reduction=8, module="inception3b"),
            dict(channels=832, reduction=16, module="inception4e"),
            dict(channels=1024, reduction=32, module="inception5b"),
        ]
        # set by convert_weights when torchvision's transform_input is folded into conv1 (see there)
        self.register_buffer("input_pad_value", torch.zeros(1, in_chans, 1, 1), persistent=False)
        self.input_pad = 0

    def _features(self, x: torch.Tensor, with_aux: bool):
        if self.input_pad:
            x = F.pad(x - self.input_pad_value, (self.input_pad,) * 4) + self.input_pad_value
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(self.lrn1(self.maxpool1(self.conv1(x)))))))
        aux1 = aux2 = None
        for name in self.blocks:
            x = self._modules[name](x)
            if with_aux and name == "inception4a":
                aux1 = self.aux1(x)
            elif with_aux and name == "inception4d":
                aux2 = self.aux2(x)
        return x, aux1, aux2

    def _forward_with_aux(self, x: torch.Tensor) -> GoogLeNetOutputs:
        x, aux1, aux2 = self._features(x, True)
        return GoogLeNetOutputs(self.forward_head(x), aux2, aux1)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier, and the auxiliary heads' final layers with it (dropped at 0)."""
        super().reset_classifier(num_classes, global_pool)
        if self.aux_logits:
            for aux in (self.aux1, self.aux2):
                aux.fc2 = (
                    nn.Linear(aux.fc2.in_features, num_classes, device=aux.fc2.weight.device)
                    if num_classes
                    else nn.Identity()
                )

    def convert_weights(self, sd: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
        """torchvision files: drop the auxiliary heads unless this model has them, and fold
        torchvision's ``transform_input`` into conv1 (its weights expect that transform): the
        weights are scaled per colour channel, the shift moves into bn1's running mean, and conv1
        pads with the value that the transform maps to 0, so the result is exact at the borders too."""
        if not self.aux_logits:
            sd = {k: v for k, v in sd.items() if not k.startswith(("aux1.", "aux2."))}
        w = sd.get("conv1.conv.weight")
        if source == "torchvision" and self.batch_norm and w is not None and w.dim() == 4 and w.shape[1] == 3:
            scale, shift = TORCHVISION_TRANSFORM_INPUT
            sd = fold_input_affine(sd, "conv1.conv", "conv1.bn", scale, shift)
            if self.in_chans == 3:  # (a 1- or 4-channel model keeps zero padding: exact except at the border)
                self._pad_input_explicitly()
                sd["input_pad_value"] = torch.tensor([-b / a for a, b in zip(scale, shift)]).view(1, 3, 1, 1)
        return sd

    def _pad_input_explicitly(self) -> None:
        """conv1 stops padding; the input is padded with ``input_pad_value`` instead, which is then
        saved with the weights (so a folded model round-trips through any state-dict file)."""
        if not self.input_pad:
            self.input_pad = self.conv1.conv.padding[0]
            self.conv1.conv.padding = (0, 0)
            self._non_persistent_buffers_set.discard("input_pad_value")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "input_pad_value" in state_dict:  # weights of a folded model
            self._pad_input_explicitly()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


TV_SOURCE = "torchvision 0.29 docs (GoogLeNet_Weights.IMAGENET1K_V1: acc@1 69.778, acc@5 89.530)"


@register_model(
    card=ModelCard(
        name="googlenet",
        family="GoogLeNet",
        paper="Szegedy et al., Going deeper with convolutions",
        year=2014,
        params=6_624_904,
        macs=1_498_376_192,
        top1=69.778,
        top5=89.530,
        source=TV_SOURCE + "; params = torchvision's without auxiliary heads (13,004,888 with them); MACs computed "
        "(conv + linear at 224x224)",
        torchvision="googlenet",
        departures=(
            "batch norm (eps 1e-3) after every convolution, no LRN (torchvision's form; googlenet_paper "
            "has the paper's)",
            "the '5x5' branch is a 3x3 convolution (torchvision vision#906)",
            "the max pool after 4e is 2x2/2 (the paper: 3x3/2)",
            "dropout 0.2 (the paper: 0.4)",
            "no hidden transform_input: loading a torchvision file folds it into conv1",
        ),
    )
)
def googlenet(**kwargs) -> GoogLeNet:
    return GoogLeNet(**kwargs)


@register_model(
    card=ModelCard(
        name="googlenet_paper",
        family="GoogLeNet",
        paper="Szegedy et al., Going deeper with convolutions",
        year=2014,
        params=6_998_552,
        macs=1_582_671_872,
        top5=89.93,
        source="top-5: the paper's Table 3 (1 model, 1 crop: top-5 error 10.07%; top-1 not reported); params/MACs "
        "computed from Table 1 with biases and the 1000-way classifier (Table 1's params column counts "
        "about 6.8M)",
        departures=(
            "auxiliary classifiers off by default (aux_logits=True adds them, as used in training)",
            "ceil-mode max pools (as the authors' Caffe model) so that 224 gives the table's 112/56/28/14/7",
            "LRN constants of the authors' Caffe model (size 5, alpha 1e-4 in Caffe's alpha/n form, beta 0.75, k 1)",
        ),
    )
)
def googlenet_paper(**kwargs) -> GoogLeNet:
    kwargs.setdefault("drop_rate", 0.4)
    return GoogLeNet(batch_norm=False, branch3_kernel=5, lrn=True, last_pool=3, **kwargs)
