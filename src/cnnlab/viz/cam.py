"""Class activation maps: where in the image the evidence for a class lies.

All four weigh the channels ``A_k`` of one layer (default: the last spatial stage) and keep the
positive part of the weighted sum, upsampled bilinearly to the input size and scaled to [0, 1]:

- ``gradcam`` (Selvaraju et al. 2017): ``w_k`` = mean over positions of ``d y_c / d A_k``.
- ``gradcam++`` (Chattopadhay et al. 2018, Eq. 19 with the exponential score): ``w_k`` = sum over
  positions of ``alpha * ReLU(g)``, ``alpha = g^2 / (2 g^2 + sum(A_k) g^3)``.
- ``scorecam`` (Wang et al. 2020): no gradient; ``w_k`` = the class probability of the input
  masked by ``A_k`` (upsampled, scaled to [0, 1]), in batches.
- ``eigencam`` (Muhammad and Yeasin 2020): the projection of the activations on their first
  principal component (class-agnostic: ``target`` is not used), sign chosen to agree with the
  channel sum.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CnnlabError
from .hooks import Taps, as_maps, check_image, default_cam_layer, inspecting, resolve_target

CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "eigencam")


def _gradcam_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return g.mean(dim=(1, 2))


def _gradcampp_weights(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    g2, g3 = g.pow(2), g.pow(3)
    denom = 2 * g2 + a.sum(dim=(1, 2), keepdim=True) * g3
    alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
    return (alpha * F.relu(g)).sum(dim=(1, 2))


GRADIENT_WEIGHTS = {"gradcam": _gradcam_weights, "gradcam++": _gradcampp_weights}


def upsample_unit(cam: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """``h x w`` -> ``H x W`` (bilinear, half-pixel centres), divided by its maximum (all zeros stay zeros)."""
    up = F.interpolate(cam[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]
    top = up.max()
    return (up / top if top > 0 else torch.zeros_like(up)).numpy().astype(np.float32)


def _scorecam(model: nn.Module, x: torch.Tensor, a: torch.Tensor, target: int, batch: int) -> torch.Tensor:
    size = tuple(x.shape[-2:])
    masks = F.interpolate(a[None], size=size, mode="bilinear", align_corners=False)[0]
    lo = masks.amin(dim=(1, 2), keepdim=True)
    hi = masks.amax(dim=(1, 2), keepdim=True)
    masks = torch.where(hi > lo, (masks - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(masks))
    weights = torch.zeros(a.shape[0])
    with torch.no_grad():
        for i in range(0, a.shape[0], batch):
            m = masks[i : i + batch, None]
            weights[i : i + batch] = torch.softmax(model(x * m).float(), dim=1)[:, target]
    return weights


def _eigencam(a: torch.Tensor) -> torch.Tensor:
    c, h, w = a.shape
    flat = a.reshape(c, h * w).T.double()  # positions x channels
    _, _, vh = torch.linalg.svd(flat - flat.mean(dim=0), full_matrices=False)
    proj = (flat @ vh[0]).reshape(h, w)
    if torch.dot(proj.flatten() - proj.mean(), a.sum(0).double().flatten()) < 0:
        proj = -proj
    return F.relu(proj).float()


def gradcam(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    layer: str | None = None,
    method: str = "gradcam",
    batch: int = 64,
) -> np.ndarray:
    """Class activation map of one image: float32 ``H x W`` in [0, 1] at the input size.

    ``x``: the normalised ``1 x C x H x W`` input; ``target``: the class (``None`` = predicted);
    ``layer``: a name from ``model.named_modules()`` (default: the last spatial stage; for a ViT
    the tokens entering the last attention, reshaped to the patch grid); ``method``: one of
    :data:`CAM_METHODS`; ``batch``: masked inputs per forward for ``scorecam``.
    """
    if method not in CAM_METHODS:
        raise CnnlabError(f"unknown CAM method {method!r}", f"choose one of {', '.join(CAM_METHODS)}")
    x = check_image(x)
    layer = layer or default_cam_layer(model, x)
    hw = tuple(x.shape[-2:])
    with inspecting(model), Taps(model, [layer], grad=method in GRADIENT_WEIGHTS) as taps:
        xin = x.clone().requires_grad_(True)
        logits = model(xin)
        t = resolve_target(logits, target)
        if layer not in taps.outputs:
            raise CnnlabError(f"layer {layer!r} did not run in the forward pass", "pick a layer from `cnnlab summary`")
        a = as_maps(taps.outputs[layer], hw)[0].float()
        if method in GRADIENT_WEIGHTS:
            torch.autograd.grad(logits[0, t], xin)  # runs the backward through the tap
            g = as_maps(taps.grads[layer][0], hw)[0].float()
            weights = GRADIENT_WEIGHTS[method](a, g)
            cam = F.relu((weights[:, None, None] * a).sum(0))
        elif method == "scorecam":
            weights = _scorecam(model, x, a, t, batch)
            cam = F.relu((weights[:, None, None] * a).sum(0))
        else:
            cam = _eigencam(a)
    return upsample_unit(cam.detach(), hw)
