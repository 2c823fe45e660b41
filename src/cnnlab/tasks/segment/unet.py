"""U-Net (Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015) with any zoo backbone as the contracting path.

The expanding path climbs the backbone's stages from the deepest: at each one a 2 x 2
"up-convolution" (a transposed convolution of stride 2) doubles the resolution and sets the width
to the skip stage's, the skip stage's map is concatenated, and two 3 x 3 convolutions (each
followed by batch norm and ReLU) fuse them. Below the shallowest stage (stride 4 for ResNets) the
same steps continue without a skip, halving the width, until the input resolution; a 1 x 1
convolution gives the class scores.

Departures from the paper: padded ("same") convolutions, so the output has the input's size (no
overlap-tile strategy, no cropping of the skip maps); batch norm after each convolution; the
encoder is the chosen zoo network (its stages' widths set the decoder's).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn as nn

from ...errors import CnnlabError
from ...nn.conv import ConvNormAct
from .backbone import Segmenter, build_backbone, stages
from .upsample import fit_to


class UpBlock(nn.Module):
    """Up-convolution by ``factor``, concatenation with the skip map (if any), two 3 x 3 conv-BN-ReLU."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, factor: int):
        super().__init__()
        self.up = (
            nn.ConvTranspose2d(in_ch, out_ch, factor, stride=factor) if factor > 1 else nn.Conv2d(in_ch, out_ch, 1)
        )
        self.conv = nn.Sequential(ConvNormAct(out_ch + skip_ch, out_ch, 3), ConvNormAct(out_ch, out_ch, 3))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size: tuple[int, int]) -> torch.Tensor:
        x = fit_to(self.up(x), *size)
        return self.conv(x if skip is None else torch.cat([x, skip], 1))


class UNet(Segmenter):
    def __init__(
        self,
        backbone: str = "resnet18",
        num_classes: int = 21,
        in_chans: int = 3,
        min_width: int = 16,
        backbone_weights: str | None = None,
        backbone_args: dict | None = None,
    ):
        super().__init__(num_classes, in_chans)
        backbone_args = dict(backbone_args or {})
        info = stages(backbone, in_chans, **backbone_args)
        for a, b in itertools.pairwise(info):
            if b["reduction"] % a["reduction"]:
                raise CnnlabError(
                    f"backbone {backbone}: stage {b['module']} (/{b['reduction']}) is not a whole "
                    f"multiple of the stride of {a['module']} (/{a['reduction']})",
                    "U-Net climbs the stages by whole upsampling factors; pick another backbone",
                )
        self.backbone_name = backbone
        self.backbone = build_backbone(backbone, in_chans, None, backbone_weights, **backbone_args)
        blocks = []
        width, r = info[-1]["channels"], info[-1]["reduction"]
        for d in reversed(info[:-1]):
            blocks.append(UpBlock(width, d["channels"], d["channels"], r // d["reduction"]))
            width, r = d["channels"], d["reduction"]
        self.n_skips = len(blocks)
        while r > 1:  # below the shallowest stage: up-convolutions without a skip, down to the input's stride
            factor = 2 if r % 2 == 0 else r
            out = max(min_width, width // 2)
            blocks.append(UpBlock(width, 0, out, factor))
            width, r = out, r // factor
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(width, num_classes, 1)
        self._reductions = [d["reduction"] for d in info]

    def decode(self, feats: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        x = feats[-1]
        skips = feats[-2::-1]
        r = self._reductions[0]
        for i, block in enumerate(self.decoder):
            if i < self.n_skips:
                skip = skips[i]
                x = block(x, skip, tuple(skip.shape[-2:]))
            else:
                factor = block.up.stride[0] if isinstance(block.up, nn.ConvTranspose2d) else 1
                r //= factor
                x = block(x, None, (-(-size[0] // r), -(-size[1] // r)))
        return fit_to(self.head(x), *size)
