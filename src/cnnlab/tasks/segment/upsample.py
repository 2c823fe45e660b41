"""Upsampling for dense heads: transposed convolutions initialised to bilinear interpolation, and the
crop / pad that brings a map to an exact size.

Long et al. 2015 (section 3.3) upsample by a factor ``f`` with a "backwards-strided" convolution
(a transposed convolution of stride ``f``) whose filter starts as bilinear interpolation and may be
learned. Kernel ``2f - f % 2`` with padding ``f // 2`` makes the output exactly ``f``
times the input; for even ``f`` the initial filter is then ``F.interpolate(scale_factor=f,
mode="bilinear", align_corners=False)`` away from the borders.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def bilinear_kernel(size: int) -> torch.Tensor:
    """The ``size x size`` bilinear interpolation filter of the FCN paper's upsampling layers."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    og = torch.arange(size, dtype=torch.float64)
    k = 1 - (og - center).abs() / factor
    return (k[:, None] * k[None, :]).float()


def upsampler(channels: int, factor: int, out_channels: int | None = None, bilinear: bool = True) -> nn.ConvTranspose2d:
    """A transposed convolution that makes maps ``factor`` times larger (exactly).

    ``bilinear=True``: channels in = channels out and channel ``c`` starts as bilinear upsampling of
    channel ``c`` (the others zero), as in FCN; otherwise PyTorch's default initialisation.
    """
    out_channels = out_channels or channels
    kernel = 2 * factor - factor % 2
    padding = factor // 2
    layer = nn.ConvTranspose2d(channels, out_channels, kernel, stride=factor, padding=padding, bias=False)
    if bilinear:
        if out_channels != channels:
            raise ValueError("bilinear initialisation maps each channel to itself: out_channels must equal channels")
        with torch.no_grad():
            if layer.weight.device.type != "meta":
                layer.weight.zero_()
                idx = torch.arange(channels)
                layer.weight[idx, idx] = bilinear_kernel(kernel)
    return layer


def fit_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop (top-left anchored) or pad (bottom / right, replicating the border) ``x`` to ``height x width``.

    Backbones map input pixel ``i`` to stage position ``i // stride`` (their padding keeps the top-left
    corner fixed), so an upsampled map lines up with the input from its top-left corner: an odd input
    gives a map a few pixels too large, cropped at the bottom and right; a backbone that floors sizes
    gives one too small, padded there.
    """
    h, w = x.shape[-2:]
    if h > height or w > width:
        x = x[..., : min(h, height), : min(w, width)]
        h, w = x.shape[-2:]
    if h < height or w < width:
        x = F.pad(x, (0, width - w, 0, height - h), mode="replicate")
    return x
