"""FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer and Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015) on any zoo backbone.

A 1 x 1 "score" convolution turns the deepest stage (total stride ``R``, 32 for ResNets, VGG and
MobileNets) into class scores. FCN-32s upsamples them ``R`` times to the input size. FCN-16s first
upsamples them 2x, adds the scores of the stage at stride ``R/2`` (a skip connection: coarse,
semantic information fused with finer, local information) and upsamples the sum ``R/2`` times;
FCN-8s fuses the stride ``R/4`` stage the same way and upsamples ``R/4`` times. Every upsampling is
a transposed convolution initialised to bilinear interpolation; as in the paper the skip score
layers start at zero, so a fresh FCN-16s / 8s computes what FCN-32s computes and learns the rest.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .backbone import Segmenter, build_backbone, pick_stage, stages
from .upsample import fit_to, upsampler


class FCN(Segmenter):
    """``skips`` = 0 (FCN-32s), 1 (FCN-16s) or 2 (FCN-8s)."""

    def __init__(
        self,
        backbone: str = "resnet18",
        skips: int = 2,
        num_classes: int = 21,
        in_chans: int = 3,
        dropout: float = 0.1,
        backbone_weights: str | None = None,
        backbone_args: dict | None = None,
    ):
        super().__init__(num_classes, in_chans)
        backbone_args = dict(backbone_args or {})
        info = stages(backbone, in_chans, **backbone_args)
        deepest = len(info) - 1
        r = info[deepest]["reduction"]
        name = f"FCN-{r >> skips}s" if r % (1 << skips) == 0 else "FCN with skips"
        chosen = [deepest] + [pick_stage(info, r >> k, backbone, name) for k in range(1, skips + 1)]
        self.backbone_name = backbone
        self.skips = skips
        self.backbone = build_backbone(backbone, in_chans, sorted(set(chosen)), backbone_weights, **backbone_args)
        order = list(self.backbone.out_indices)
        self._take = [order.index(i) for i in chosen]  # deepest first, then the finer skips
        chans = [info[i]["channels"] for i in chosen]
        self.dropout = nn.Dropout2d(dropout) if dropout else nn.Identity()
        self.score = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in chans)
        for layer in list(self.score)[1:]:  # skip scores start at zero (Long et al. 2015, section 4.2)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.up2 = nn.ModuleList(upsampler(num_classes, 2) for _ in range(skips))
        self.final_factor = r >> skips
        self.up_final = upsampler(num_classes, self.final_factor)

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        maps = [feats[i] for i in self._take]
        scores = self.score[0](self.dropout(maps[0]))
        for k in range(1, self.skips + 1):
            skip = self.score[k](maps[k])
            scores = fit_to(self.up2[k - 1](scores), *skip.shape[-2:]) + skip
        return fit_to(self.up_final(scores), *size)
