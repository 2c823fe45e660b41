"""Batched augmentation on image tensors: one call per batch, no per-image Python work.

Every transform takes a whole N x C x H x W batch (uint8 or float, in [0, 255] units, before
normalisation) and a ``torch.Generator``; every random draw comes from that generator, so a batch's
augmentation is fixed by the loader's (seed, epoch, batch index). Geometric transforms that move
whole pixels (crop, flip, cutout) keep uint8; resampling and colour transforms return float32.

``parse_augment("crop=4,flip", image_shape, stats)`` builds the pipeline the trainer uses;
:func:`mix_batch` (mixup, cutmix) acts on images *and* labels and is called by the trainer on the
normalised batch.

Sources of the definitions (facts and numbers; the code is ours):

- random crop with padding: He et al. 2015, "Deep Residual Learning", sec. 4.2 (CIFAR: "4 pixels
  are padded on each side, and a 32x32 crop is randomly sampled from the padded image or its
  horizontal flip").
- random-resized crop: Szegedy et al. 2015, "Going Deeper with Convolutions", sec. 6 (patches of
  8%-100% of the image area, aspect ratio in [3/4, 4/3]); the sampling procedure (10 attempts of
  uniform area and log-uniform ratio, then a centre crop) is torchvision's ``RandomResizedCrop``.
- colour jitter: torchvision's ``ColorJitter`` factors (brightness/contrast/saturation uniform in
  [max(0, 1-v), 1+v], hue shift uniform in [-h, h] of a full turn) and ITU-R 601-2 luma weights
  0.299, 0.587, 0.114 for the grey image.
- PCA lighting: Krizhevsky et al. 2012, "ImageNet Classification with Deep CNNs", sec. 4.1: add
  ``[p1 p2 p3][a1 l1, a2 l2, a3 l3]^T`` to every pixel, p_i / l_i the eigenvectors / eigenvalues of
  the 3 x 3 covariance of the training set's RGB values, a_i ~ N(0, 0.1) drawn once per image.
- random affine: rotation, isotropic scale, shear and translation drawn uniformly per image, as
  torchvision's ``RandomAffine`` parameterises them (degrees, scale range, x-shear in degrees,
  translation as a fraction of the size); bilinear resampling, zero outside the image. Small
  affine distortions of digits: LeCun et al. 1998, sec. III.C ("distortions": translations,
  scaling, squeezing, horizontal shearing) and Simard et al. 2003, sec. 2.
- elastic distortion: Simard, Steinkraus & Platt 2003, "Best Practices for CNNs Applied to Visual
  Document Analysis", sec. 2.1: per-pixel displacements uniform in [-1, 1], smoothed with a
  Gaussian of standard deviation sigma (pixels) and scaled by alpha; bilinear resampling.
- cutout: DeVries & Taylor 2017, "Improved Regularization of CNNs with Cutout": a square of side L
  at a uniformly random centre (it may stick out of the image), filled with the data-set mean.
- mixup: Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization": lam ~ Beta(a, a),
  x = lam x_i + (1 - lam) x_j, same for one-hot labels.
- cutmix: Yun et al. 2019, "CutMix", sec. 3.1: lam ~ Beta(a, a) (a = 1: uniform), a box of
  W sqrt(1-lam) x H sqrt(1-lam) at a uniform centre, clipped; the label weight is the area kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CnnlabError, UnknownNameError

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L") and torchvision's rgb_to_grayscale


# ----------------------------------------------------------------------------------------------
# training-set statistics


@dataclass
class PixelStats:
    """Per-channel mean (in [0, 1]) and the eigen-decomposition of the RGB covariance (in [0, 1] units).

    ``eigvec[:, i]`` is the i-th principal direction, ``eigval[i]`` its variance, largest first.
    """

    mean: list[float]
    eigval: torch.Tensor | None = None
    eigvec: torch.Tensor | None = None


def rgb_covariance(images: torch.Tensor, chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C) and covariance (C x C) of all pixel values of a uint8 N x C x H x W tensor, [0, 1] units.

    Accumulated in float64 over chunks of ``chunk`` images (default: about 2^21 pixels per chunk).
    """
    c = images.shape[1]
    chunk = chunk or max(1, 2**21 // (images.shape[2] * images.shape[3]))
    s = torch.zeros(c, dtype=torch.float64)
    ss = torch.zeros(c, c, dtype=torch.float64)
    count = 0
    for start in range(0, len(images), chunk):
        x = images[start : start + chunk].to(torch.float64).div_(255.0).transpose(0, 1).reshape(c, -1)
        s += x.sum(1)
        ss += x @ x.T
        count += x.shape[1]
    mean = s / count
    return mean, ss / count - torch.outer(mean, mean)


def pixel_stats(images: torch.Tensor, with_eigen: bool = True) -> PixelStats:
    """:class:`PixelStats` of a uint8 image tensor (the training split)."""
    mean, cov = rgb_covariance(images)
    if not with_eigen:
        return PixelStats(mean.tolist())
    val, vec = torch.linalg.eigh(cov)  # ascending
    return PixelStats(mean.tolist(), val.flip(0).float(), vec.flip(1).float())


def _as_stats(stats, need_eigen: bool) -> PixelStats | None:
    """Accept PixelStats, DataSplits, ImageDataset or a uint8 tensor of training images."""
    if stats is None or isinstance(stats, PixelStats):
        if need_eigen and (stats is None or stats.eigval is None):
            return None
        return stats
    images = getattr(stats, "train", stats)  # DataSplits -> its training split
    images = getattr(images, "images", images)  # ImageDataset -> its tensor
    if not (isinstance(images, torch.Tensor) or getattr(images, "is_lazy", False)):  # lazy: cnnlab.data.stream
        raise TypeError(f"stats must be PixelStats, DataSplits, ImageDataset or a uint8 tensor, not {type(stats)}")
    if not need_eigen and hasattr(stats, "mean") and isinstance(stats.mean, list) and stats.mean:
        return PixelStats(list(stats.mean))
    return pixel_stats(images, with_eigen=need_eigen)


# ----------------------------------------------------------------------------------------------
# geometric transforms


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror indices about the border pixels without repeating them (NumPy's / F.pad's ``reflect``)."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def shift_crop(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, mode: str = "zero") -> torch.Tensor:
    """``out[n, :, i, j] = x[n, :, i + dy[n], j + dx[n]]``; outside the image: 0 (``zero``) or mirrored (``reflect``).

    This is "pad by P, then take an H x W crop at offset (P + dy, P + dx)" without materialising the
    padded batch.
    """
    n, c, h, w = x.shape
    rows = dy.view(n, 1) + torch.arange(h)
    cols = dx.view(n, 1) + torch.arange(w)
    if mode == "reflect":
        rows, cols = _reflect(rows, h), _reflect(cols, w)
        valid = None
    elif mode == "zero":
        valid = ((rows >= 0) & (rows < h)).view(n, 1, h, 1) & ((cols >= 0) & (cols < w)).view(n, 1, 1, w)
        rows, cols = rows.clamp(0, h - 1), cols.clamp(0, w - 1)
    else:
        raise ValueError(f"padding mode must be zero or reflect, not {mode!r}")
    out = x.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w))
    out = out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))
    return out if valid is None else out.masked_fill(~valid, 0)


def pad_batch(x: torch.Tensor, padding: int, mode: str = "zero") -> torch.Tensor:
    """Pad H and W by ``padding`` on each side with zeros or a mirror image (any dtype, uint8 included)."""
    if mode == "zero":
        return F.pad(x, (padding, padding, padding, padding))
    h, w = x.shape[-2:]
    rows = _reflect(torch.arange(-padding, h + padding), h)
    cols = _reflect(torch.arange(-padding, w + padding), w)
    return x.index_select(2, rows).index_select(3, cols)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, mode: str = "zero") -> torch.Tensor:
    """Pad each side by ``padding`` and crop back to H x W at a uniformly random offset (He et al. 2015).

    Equal to :func:`shift_crop` with offsets uniform in [-padding, padding]; implemented as one
    gather from a strided view of all (2P+1)^2 windows of the padded batch.
    """
    n, c, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    padded = pad_batch(x, padding, mode).contiguous()
    s = padded.stride()
    windows = padded.as_strided((n, c, 2 * padding + 1, 2 * padding + 1, h, w), (s[0], s[1], s[2], s[3], s[2], s[3]))
    return windows[torch.arange(n), :, dy, dx]


def hflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where ``mask`` (N bools) is true."""
    idx = mask.nonzero().flatten()
    out = x.clone()
    out[idx] = x[idx].flip(3)
    return out


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    return hflip(x, torch.rand(x.shape[0], generator=generator) < p)


def sample_rrc_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    generator: torch.Generator,
    attempts: int = 10,
) -> torch.Tensor:
    """Crop boxes (top, left, h, w) as torchvision's RandomResizedCrop draws them, for N images at once.

    Per image: up to ``attempts`` draws of area ~ U(scale) x H W and log-ratio ~ U(log ratio);
    w = round(sqrt(area ratio)), h = round(sqrt(area / ratio)); the first that fits is used, else a
    centre crop of the whole image clamped to the ratio range. Position uniform over what fits.
    """
    area = height * width
    target = area * (
        scale[0] + (scale[1] - scale[0]) * torch.rand(n, attempts, generator=generator, dtype=torch.float64)
    )
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * torch.rand(n, attempts, generator=generator, dtype=torch.float64))
    cw = torch.round(torch.sqrt(target * aspect)).long()
    ch = torch.round(torch.sqrt(target / aspect)).long()
    ok = (cw > 0) & (cw <= width) & (ch > 0) & (ch <= height)
    first = ok.to(torch.uint8).argmax(1, keepdim=True)
    cw, ch = cw.gather(1, first).squeeze(1), ch.gather(1, first).squeeze(1)
    # fallback: the whole image, clamped to the ratio range (torchvision's rule)
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(height * ratio[1])), height
    else:
        fw, fh = width, height
    found = ok.any(1)
    cw = torch.where(found, cw, torch.full_like(cw, fw))
    ch = torch.where(found, ch, torch.full_like(ch, fh))
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.floor(u[:, 0] * (height - ch + 1)).long()
    left = torch.floor(u[:, 1] * (width - cw + 1)).long()
    top = torch.where(found, top, (height - ch) // 2)
    left = torch.where(found, left, (width - cw) // 2)
    return torch.stack([top, left, ch, cw], 1)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop each image to its box (top, left, h, w) and resize it bilinearly to ``size``, all at once.

    Equal to ``F.interpolate(crop, size, mode="bilinear", align_corners=False)`` of each crop:
    output pixel i samples the crop at ``(i + 0.5) h / H - 0.5``, clamped to the crop's edge pixels
    (never the pixels outside the box). No antialiasing: torchvision antialiases when shrinking.
    """
    n, c, h, w = x.shape
    top, left, ch, cw = boxes.to(torch.float32).unbind(1)

    def axis(start, length, out, full):
        src = (torch.arange(out, dtype=torch.float32) + 0.5).view(1, out) * (length / out).view(n, 1) - 0.5
        src = torch.minimum(src.clamp_min(0), (length - 1).view(n, 1)) + start.view(n, 1)
        return (src + 0.5) / full * 2 - 1  # grid_sample's normalised coordinate (align_corners=False)

    gy, gx = axis(top, ch, size[0], h), axis(left, cw, size[1], w)
    grid = torch.stack(
        [gx.view(n, 1, size[1]).expand(n, size[0], size[1]), gy.view(n, size[0], 1).expand(n, size[0], size[1])], dim=-1
    )
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(
    x: torch.Tensor,
    generator: torch.Generator,
    scale=(0.08, 1.0),
    ratio=(3 / 4, 4 / 3),
    size: tuple[int, int] | None = None,
) -> torch.Tensor:
    n, _, h, w = x.shape
    return resized_crop(x, sample_rrc_boxes(n, h, w, scale, ratio, generator), size or (h, w))


def affine(
    x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, shear: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor
) -> torch.Tensor:
    """Per-image affine warp about the image centre: rotate by ``angle`` degrees (counter-clockwise as
    displayed, y pointing down), shear x by ``shear`` degrees, scale by ``scale``, then shift by
    (``tx``, ``ty``) pixels. Bilinear, zero outside the image, float32 out (all arguments: N values).

    Output pixel p samples the input at ``M^-1 (p - c - t) + c`` with ``M = R(angle) Sh(shear) scale``.
    """
    n, _, h, w = x.shape
    a = torch.deg2rad(angle.to(torch.float64))
    sh = torch.tan(torch.deg2rad(shear.to(torch.float64)))
    cos, sin = torch.cos(a), torch.sin(a)
    # forward map in pixel units (x right, y down): R = [[cos, sin], [-sin, cos]] turns the picture
    # counter-clockwise on screen; Sh = [[1, sh], [0, 1]]
    m = torch.stack([torch.stack([cos, cos * sh + sin], -1), torch.stack([-sin, -sin * sh + cos], -1)], -2)
    m = m * scale.to(torch.float64).view(n, 1, 1)
    inv = torch.linalg.inv(m)
    t = torch.stack([tx, ty], -1).to(torch.float64)
    half = torch.tensor([w / 2, h / 2], dtype=torch.float64)
    # affine_grid works in coordinates normalised by half the size (align_corners=False)
    lin = inv * half.view(1, 1, 2) / half.view(1, 2, 1)
    off = -(inv @ t.unsqueeze(-1)).squeeze(-1) / half
    theta = torch.cat([lin, off.unsqueeze(-1)], -1).float()
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator,
    degrees: float = 10.0,
    scale: float = 0.1,
    shear: float = 0.0,
    translate: float = 0.0,
) -> torch.Tensor:
    """:func:`affine` with angle ~ U(-degrees, degrees), scale ~ U(1-scale, 1+scale), x-shear ~
    U(-shear, shear) degrees and a shift ~ U(-translate, translate) x the width / height, per image."""
    n, _, h, w = x.shape

    def u(bound: float) -> torch.Tensor:
        return (2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1) * bound

    return affine(x, u(degrees), 1 + u(scale), u(shear), u(translate * w), u(translate * h))


def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian taps over +-3 sigma (at least 3 taps)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    return (k / k.sum()).float()


def elastic_displacement(
    n: int, height: int, width: int, alpha: float, sigma: float, generator: torch.Generator
) -> torch.Tensor:
    """N x 2 x H x W displacement field in pixels (dx, dy): U(-1, 1) noise, Gaussian-smoothed, times alpha.

    Smoothing is separable with zero padding, as Simard et al. 2003 (sec. 2.1) convolve the random
    field with a Gaussian; outside the image the field is taken as 0.
    """
    field = 2 * torch.rand(n * 2, 1, height, width, generator=generator) - 1
    k = gaussian_kernel1d(sigma)
    r = len(k) // 2
    field = F.conv2d(F.pad(field, (r, r, 0, 0)), k.view(1, 1, 1, -1))
    field = F.conv2d(F.pad(field, (0, 0, r, r)), k.view(1, 1, -1, 1))
    return alpha * field.view(n, 2, height, width)


def displace(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """``out[n, :, i, j] = x[n, :, i + field[n, 1, i, j], j + field[n, 0, i, j]]``, bilinear, zero outside."""
    n, _, h, w = x.shape
    rows = torch.arange(h, dtype=torch.float32).view(1, h, 1) + field[:, 1]
    cols = torch.arange(w, dtype=torch.float32).view(1, 1, w) + field[:, 0]
    grid = torch.stack([(2 * cols + 1) / w - 1, (2 * rows + 1) / h - 1], -1)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_elastic(
    x: torch.Tensor, generator: torch.Generator, alpha: float = 34.0, sigma: float = 4.0
) -> torch.Tensor:
    """Elastic distortion (Simard et al. 2003): :func:`displace` by :func:`elastic_displacement`."""
    n, _, h, w = x.shape
    return displace(x, elastic_displacement(n, h, w, alpha, sigma, generator))


def cutout_mask(n: int, height: int, width: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """N x H x W bool mask of one length x length square per image, centre uniform over the image, clipped."""
    cy = torch.randint(0, height, (n, 1), generator=generator)
    cx = torch.randint(0, width, (n, 1), generator=generator)
    y0, x0 = cy - length // 2, cx - length // 2
    rows, cols = torch.arange(height), torch.arange(width)
    mr = (rows >= y0) & (rows < y0 + length)
    mc = (cols >= x0) & (cols < x0 + length)
    return mr.view(n, height, 1) & mc.view(n, 1, width)


def cutout(
    x: torch.Tensor, length: int, generator: torch.Generator, fill: Sequence[float] | None = None
) -> torch.Tensor:
    """Cutout (DeVries & Taylor 2017): blank one square per image with ``fill`` (per channel, [0, 255] units)."""
    n, c, h, w = x.shape
    mask = cutout_mask(n, h, w, length, generator).unsqueeze(1)
    value = torch.zeros(1, c, 1, 1) if fill is None else torch.tensor(list(fill), dtype=torch.float32).view(1, c, 1, 1)
    if x.dtype == torch.uint8:
        value = value.round().clamp(0, 255).to(torch.uint8)
    return torch.where(mask, value.to(x.dtype), x)


# ----------------------------------------------------------------------------------------------
# colour transforms ([0, 255] units in, float32 out, clamped to [0, 255] after each step)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luma of an RGB batch (ITU-R 601-2)."""
    r, g, b = x.float().unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp_(0, 255)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (x.float() * factor.view(-1, 1, 1, 1)).clamp_(0, 255)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean grey level (torchvision's definition)."""
    x = x.float()
    grey = grayscale(x) if x.shape[1] == 3 else x
    return _blend(x, grey.mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the grey image (a no-op on 1-channel images, which have no saturation)."""
    x = x.float()
    return x if x.shape[1] != 3 else _blend(x, grayscale(x), factor)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of a turn), batched; as Python's colorsys."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    s = delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc))  # 0 when maxc = 0 (then delta = 0)
    d = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(
        maxc == r, ((g - b) / d).remainder(6.0), torch.where(maxc == g, (b - r) / d + 2.0, (r - g) / d + 4.0)
    )
    h = torch.where(delta > 0, h / 6.0, torch.zeros_like(h)).remainder(1.0)
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """HSV in [0, 1] -> RGB in [0, 1], batched."""
    h, s, v = x.unbind(1)
    h6 = h.remainder(1.0) * 6.0
    i = torch.floor(h6)
    f = h6 - i
    i = i.long().remainder(6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # sector i -> (r, g, b) taken from (v, t, p, q)
    table = torch.stack(
        [
            v,
            q,
            p,
            p,
            t,
            v,  # r for i = 0..5
            t,
            v,
            v,
            q,
            p,
            p,  # g
            p,
            p,
            t,
            v,
            v,
            q,
        ],
        0,
    ).view(3, 6, *v.shape)  # b
    idx = i.unsqueeze(0).unsqueeze(0).expand(3, 1, *i.shape)
    return table.gather(1, idx).squeeze(1).movedim(0, 1)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` (fraction of a turn, per image); a no-op on 1-channel images."""
    x = x.float()
    if x.shape[1] != 3:
        return x
    hsv = rgb_to_hsv(x / 255.0)
    hsv[:, 0] = (hsv[:, 0] + shift.view(-1, 1, 1)).remainder(1.0)
    return (hsv_to_rgb(hsv) * 255.0).clamp_(0, 255)


def color_jitter(
    x: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.0,
    contrast: float = 0.0,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> torch.Tensor:
    """torchvision-style ColorJitter with per-image factors; the order of the four steps is drawn per batch."""
    n = x.shape[0]
    out = x.float()

    def factors(v):
        return max(0.0, 1 - v) + (1 + v - max(0.0, 1 - v)) * torch.rand(n, generator=generator)

    for step in torch.randperm(4, generator=generator).tolist():
        if step == 0 and brightness > 0:
            out = adjust_brightness(out, factors(brightness))
        elif step == 1 and contrast > 0:
            out = adjust_contrast(out, factors(contrast))
        elif step == 2 and saturation > 0:
            out = adjust_saturation(out, factors(saturation))
        elif step == 3 and hue > 0:
            out = adjust_hue(out, (2 * torch.rand(n, generator=generator) - 1) * hue)
    return out


def pca_lighting(x: torch.Tensor, alpha: torch.Tensor, eigval: torch.Tensor, eigvec: torch.Tensor) -> torch.Tensor:
    """AlexNet lighting (Krizhevsky et al. 2012, sec. 4.1) with given per-image ``alpha`` (N x 3).

    Adds ``eigvec @ (alpha * eigval)`` (computed in [0, 1] units, applied x 255) to every pixel.
    """
    offset = (alpha * eigval.view(1, 3)) @ eigvec.T  # N x 3: sum_i a_i l_i p_i
    return (x.float() + 255.0 * offset.view(-1, 3, 1, 1)).clamp_(0, 255)


def random_pca_lighting(
    x: torch.Tensor, generator: torch.Generator, std: float, eigval: torch.Tensor, eigvec: torch.Tensor
) -> torch.Tensor:
    alpha = torch.randn(x.shape[0], 3, generator=generator) * std
    return pca_lighting(x, alpha, eigval, eigvec)


# ----------------------------------------------------------------------------------------------
# mixup / cutmix (images and labels)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """One Beta(alpha, alpha) draw, seeded from ``generator`` (torch's Beta takes no generator)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels -> float one-hot; soft N x K targets pass through (as float)."""
    if y.dim() == 2:
        return y.float()
    return F.one_hot(y.long(), num_classes).float()


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a CutMix box (Yun et al. 2019): sides sqrt(1-lam) H / W, centre uniform, clipped."""
    cut = math.sqrt(1.0 - lam)
    bh, bw = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=generator))
    cx = int(torch.randint(0, width, (1,), generator=generator))
    y0, y1 = max(cy - bh // 2, 0), min(cy + bh // 2 + bh % 2, height)
    x0, x1 = max(cx - bw // 2, 0), min(cx + bw // 2 + bw % 2, width)
    return y0, y1, x0, x1


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019) of a batch with a shuffled copy of itself.

    Returns ``(x_mixed, y_soft)``: soft targets N x ``num_classes`` (train with soft cross-entropy).
    With both alphas > 0 each batch uses one of the two with probability 1/2 (timm's rule); with
    both 0 the batch is returned with one-hot targets. One lam per batch, partner = a random
    permutation of the batch. For CutMix the label weight is the exact area fraction kept.
    """
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise CnnlabError(
            f"mixup/cutmix alphas must be >= 0 (got {mixup_alpha}, {cutmix_alpha})",
            "use e.g. mixup 0.2 and cutmix 1.0, or 0 to switch one off",
        )
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    target = one_hot(y, num_classes)
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return x, target
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha == 0 or bool(torch.rand(1, generator=g) < 0.5))
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    if use_cutmix:
        lam = _beta(cutmix_alpha, g)
        h, w = x.shape[-2:]
        y0, y1, x0, x1 = cutmix_box(h, w, lam, g)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        lam = _beta(mixup_alpha, g)
        x = lam * x.float() + (1.0 - lam) * x.float()[perm]
    return x, lam * target + (1.0 - lam) * target[perm.to(target.device)]


# ----------------------------------------------------------------------------------------------
# the pipeline and its spec string


@dataclass
class Step:
    name: str
    args: dict

    def __str__(self) -> str:
        vals = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in self.args.items()
            if k not in ("eigval", "eigvec", "fill")
        )
        return f"{self.name}({vals})"


class Augmentation:
    """One augmentation of the ``--augment`` spec: its ``name``, ``help`` line, :meth:`parse` (the value
    after ``name=`` -> the arguments of its batched call, with the image shape ``c, h, w`` and the
    training statistics) and :meth:`__call__` (the batched call). ``AUGMENTATIONS`` holds one of each,
    in the order they run: geometric (rrc, affine, elastic, crop, flip), colour (jitter, pca), then
    cutout."""

    name: str
    help: str

    def parse(self, value: str, c: int, h: int, w: int, stats) -> dict:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define parse")

    def __call__(self, x: torch.Tensor, generator: torch.Generator, args: dict) -> torch.Tensor:  # pragma: no cover
        raise TypeError(f"{type(self).__name__} must define __call__")

    def bad(self, value: str, what: str):
        raise CnnlabError(f"augmentation {self.name}={value}: {what}", self.help)

    def numbers(self, value: str, count: tuple[int, int]) -> list[float]:
        return _numbers(self.name, value, count)


AUGMENTATIONS: dict[str, Augmentation] = {}


def register_augmentation(cls: type[Augmentation]) -> type[Augmentation]:
    """Add one augmentation; registration order is the order the pipeline runs them in."""
    AUGMENTATIONS[cls.name] = cls()
    return cls


@register_augmentation
class RandomResizedCropAug(Augmentation):
    name = "rrc"
    help = "rrc=S[:S_MAX]          random-resized crop of S..S_MAX (default 0.08..1) of the area, ratio 3/4..4/3"

    def parse(self, value, c, h, w, stats):
        vals = self.numbers(value, (0, 2)) or [0.08]
        lo, hi = vals[0], vals[1] if len(vals) > 1 else 1.0
        if not 0 < lo <= hi <= 1:
            self.bad(value, "the area range must satisfy 0 < S <= S_MAX <= 1")
        return {"scale": (lo, hi), "ratio": (3 / 4, 4 / 3)}

    def __call__(self, x, generator, args):
        return random_resized_crop(x, generator, scale=args["scale"], ratio=args["ratio"])


@register_augmentation
class AffineAug(Augmentation):
    name = "affine"
    help = (
        "affine=DEG[:SCALE[:SHEAR[:SHIFT]]] random rotation +-DEG (default 10), scale 1+-SCALE (0.1), "
        "x-shear +-SHEAR degrees (0), shift +-SHIFT x the size (0)"
    )

    def parse(self, value, c, h, w, stats):
        vals = self.numbers(value, (0, 4)) or [10.0]
        deg, sc, shear, shift = vals + [0.1, 0.0, 0.0][len(vals) - 1 :]
        if not 0 <= deg <= 180:
            self.bad(value, "the rotation must be in [0, 180] degrees")
        if not 0 <= sc < 1:
            self.bad(value, "the scale range must be in [0, 1) (scale 1 +- SCALE)")
        if not 0 <= shear < 90:
            self.bad(value, "the shear must be in [0, 90) degrees")
        if not 0 <= shift <= 1:
            self.bad(value, "the shift must be in [0, 1] (a fraction of the image size)")
        return {"degrees": deg, "scale": sc, "shear": shear, "translate": shift}

    def __call__(self, x, generator, args):
        return random_affine(x, generator, args["degrees"], args["scale"], args["shear"], args["translate"])


@register_augmentation
class ElasticAug(Augmentation):
    name = "elastic"
    help = "elastic=ALPHA[:SIGMA]   elastic distortion: smoothed random displacements (default 34:4, Simard 2003)"

    def parse(self, value, c, h, w, stats):
        vals = self.numbers(value, (0, 2)) or [34.0]
        alpha, sigma = vals[0], vals[1] if len(vals) > 1 else 4.0
        if alpha < 0 or sigma <= 0:
            self.bad(value, "alpha must be >= 0 and sigma > 0 (pixels)")
        return {"alpha": alpha, "sigma": sigma}

    def __call__(self, x, generator, args):
        return random_elastic(x, generator, args["alpha"], args["sigma"])


@register_augmentation
class CropAug(Augmentation):
    name = "crop"
    help = "crop=P[:zero|reflect]  pad P pixels per side (default 4, zero padding) and crop back at random"

    def parse(self, value, c, h, w, stats):
        pad_text, _, mode = value.partition(":")
        mode = mode or "zero"
        if mode not in ("zero", "reflect"):
            self.bad(value, f"padding mode {mode!r} is neither zero nor reflect")
        (p,) = self.numbers(pad_text, (0, 1)) or [4.0]
        if p != int(p) or p < 1:
            self.bad(value, "the padding must be a whole number of pixels >= 1")
        if mode == "reflect" and (p >= h or p >= w):
            self.bad(value, f"reflect padding must be smaller than the image ({h}x{w})")
        return {"padding": int(p), "mode": mode}

    def __call__(self, x, generator, args):
        return random_crop(x, args["padding"], generator, args["mode"])


@register_augmentation
class FlipAug(Augmentation):
    name = "flip"
    help = "flip[=P]               horizontal flip with probability P (default 0.5)"

    def parse(self, value, c, h, w, stats):
        (p,) = self.numbers(value, (0, 1)) or [0.5]
        if not 0 <= p <= 1:
            self.bad(value, "the probability must be in [0, 1]")
        return {"p": p}

    def __call__(self, x, generator, args):
        return random_hflip(x, generator, args["p"])


@register_augmentation
class JitterAug(Augmentation):
    name = "jitter"
    help = "jitter=B[:C:S[:H]]     colour jitter: brightness, contrast, saturation (default all = B), hue <= 0.5"

    def parse(self, value, c, h, w, stats):
        vals = self.numbers(value, (0, 4)) or [0.4]
        if len(vals) == 2:
            self.bad(value, "give 1, 3 or 4 numbers (brightness[:contrast:saturation[:hue]])")
        b = vals[0]
        cc, s = (vals[1], vals[2]) if len(vals) >= 3 else (b, b)
        hue = vals[3] if len(vals) == 4 else 0.0
        if min(b, cc, s) < 0:
            self.bad(value, "brightness, contrast and saturation must be >= 0")
        if not 0 <= hue <= 0.5:
            self.bad(value, "hue must be in [0, 0.5] (a fraction of a full turn)")
        return {"brightness": b, "contrast": cc, "saturation": s, "hue": hue}

    def __call__(self, x, generator, args):
        return color_jitter(x, generator, args["brightness"], args["contrast"], args["saturation"], args["hue"])


@register_augmentation
class PcaLightingAug(Augmentation):
    name = "pca"
    help = "pca=SIGMA              AlexNet PCA lighting, alpha ~ N(0, SIGMA) (default 0.1; RGB only)"

    def parse(self, value, c, h, w, stats):
        (sigma,) = self.numbers(value, (0, 1)) or [0.1]
        if sigma < 0:
            self.bad(value, "sigma must be >= 0")
        if c != 3:
            self.bad(value, f"PCA lighting acts on RGB images; these have {c} channel(s)")
        st = _as_stats(stats, need_eigen=True)
        if st is None:
            raise CnnlabError(
                "augmentation pca needs the training set's RGB covariance",
                "pass stats= (the DataSplits or training images) to parse_augment",
            )
        return {"std": sigma, "eigval": st.eigval, "eigvec": st.eigvec}

    def __call__(self, x, generator, args):
        return random_pca_lighting(x, generator, args["std"], args["eigval"], args["eigvec"])


@register_augmentation
class CutoutAug(Augmentation):
    name = "cutout"
    help = "cutout=L               blank one L x L square per image with the mean (default L = H/2)"

    def parse(self, value, c, h, w, stats):
        (length,) = self.numbers(value, (0, 1)) or [float(h // 2)]
        if length != int(length) or length < 1:
            self.bad(value, "the side must be a whole number of pixels >= 1")
        st = _as_stats(stats, need_eigen=False)
        fill = [255.0 * m for m in st.mean] if st is not None else None
        return {"length": int(length), "fill": fill}

    def __call__(self, x, generator, args):
        return cutout(x, args["length"], generator, args["fill"])


# views of the registry for the CLI and the error messages
ORDER = list(AUGMENTATIONS)
AUGMENT_HELP = {name: aug.help for name, aug in AUGMENTATIONS.items()}


class AugmentPipeline:
    """A batch transform ``(uint8 batch, generator) -> batch in [0, 255] units`` made of :class:`Step`s.

    Steps always run in the order geometric (rrc, affine, elastic, crop, flip), colour (jitter, pca), then cutout,
    whatever the order in the spec string (``ORDER``, the registration order of ``AUGMENTATIONS``).
    """

    def __init__(self, steps: list[Step], spec: str = ""):
        self.steps = sorted(steps, key=lambda s: ORDER.index(s.name))
        self.spec = spec

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for s in self.steps:
            x = AUGMENTATIONS[s.name](x, generator, s.args)
        return x

    def __repr__(self) -> str:
        return "AugmentPipeline(" + ", ".join(str(s) for s in self.steps) + ")"

    def describe(self) -> str:
        return ", ".join(str(s) for s in self.steps)


def _numbers(name: str, value: str, count: tuple[int, int]) -> list[float]:
    parts = value.split(":") if value else []
    if not count[0] <= len(parts) <= count[1]:
        raise CnnlabError(
            f"augmentation {name}={value!r}: expected {count[0]}-{count[1]} ':'-separated numbers", AUGMENT_HELP[name]
        )
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise CnnlabError(f"augmentation {name}={value!r}: not a number", AUGMENT_HELP[name]) from None


def parse_augment(spec: str | None, image_shape: Sequence[int], stats=None) -> AugmentPipeline | None:
    """Build the batched augmentation for a spec like ``"crop=4,flip"`` or ``"rrc=0.35,flip,jitter=0.4,cutout=8"``.

    ``image_shape`` is (C, H, W) of the stored images. ``stats`` (the training split as DataSplits,
    ImageDataset or uint8 tensor, or :class:`PixelStats`) supplies the mean for cutout's fill and the
    RGB covariance for ``pca``. ``""``/``"none"`` -> None. Names: see ``AUGMENT_HELP``.
    """
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    c, h, w = (int(v) for v in image_shape)
    steps: dict[str, Step] = {}
    for item in (p.strip() for p in spec.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = name.strip().lower(), value.strip()
        if name in ("mixup", "cutmix"):
            raise CnnlabError(
                f"{name} is not a per-image augmentation: it mixes images and labels",
                f"use the trainer's --{name} ALPHA option (cnnlab.data.mix_batch)",
            )
        if name not in AUGMENT_HELP:
            raise _unknown(name)
        if name in steps:
            raise CnnlabError(f"augmentation {name!r} is given twice in {spec!r}", "give each augmentation once")
        steps[name] = Step(name, AUGMENTATIONS[name].parse(value, c, h, w, stats))
    return AugmentPipeline(list(steps.values()), spec) if steps else None


def _unknown(name: str) -> CnnlabError:
    err = UnknownNameError("augmentation", name, AUGMENT_HELP)
    err.hint = (err.hint + " " if err.hint else "") + "Known: " + ", ".join(ORDER) + " (e.g. --augment crop=4,flip)"
    return err
