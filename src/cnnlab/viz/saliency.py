"""Input-gradient maps: which pixels the class score is most sensitive to.

- ``gradient`` (Simonyan et al. 2014): ``|d y_c / d x|``, the largest over colour channels.
- ``smoothgrad`` (Smilkov et al. 2017): the gradient averaged over ``samples`` noisy copies of
  the image (noise std = ``noise`` x the image's value range).
- ``integrated`` (Sundararajan et al. 2017): ``(x - x0) * mean_k grad(x0 + a_k (x - x0))`` over
  ``steps`` midpoints ``a_k`` of the straight path from the baseline ``x0`` (default: zeros, the
  training mean after normalisation); the attributions sum to ``y_c(x) - y_c(x0)``
  (completeness), checked by :func:`integrated_gradients`.
- ``guided`` (Springenberg et al. 2015, the deconvnet family of Zeiler and Fergus 2014): the
  gradient with only positive gradients passed back through every activation function.

``y_c`` is the class logit (before softmax). Maps are float32 ``H x W`` in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..errors import CnnlabError
from .hooks import check_image, inspecting, resolve_target

SALIENCY_METHODS = ("gradient", "smoothgrad", "integrated", "guided")


def input_gradients(model: nn.Module, xs: torch.Tensor, target: int, batch: int = 64) -> torch.Tensor:
    """``d y_target / d x`` for every image of the batch ``xs`` (computed ``batch`` at a time)."""
    out = []
    for i in range(0, xs.shape[0], batch):
        xin = xs[i : i + batch].detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xin)[:, target].float().sum(), xin)
        out.append(g)
    return torch.cat(out)


class _PositiveGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y):
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        return g.clamp_min(0)


_ACTIVATIONS = {
    F.relu,
    F.relu_,
    torch.relu,
    torch.relu_,
    torch.Tensor.relu,
    torch.Tensor.relu_,
    F.relu6,
    F.hardtanh,
    F.silu,
    F.gelu,
    F.hardswish,
    F.elu,
    F.leaky_relu,
    F.mish,
}


class GuidedActivations(TorchFunctionMode):
    """While active, every activation function's output passes back only positive gradients: with
    the activation's own derivative this is guided backpropagation's rule at a ReLU,
    ``R_in = [x > 0] [R_out > 0] R_out``. Works for modules and functional calls alike."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in _ACTIVATIONS and isinstance(out, torch.Tensor) and out.requires_grad:
            return _PositiveGrad.apply(out)
        return out


@dataclass
class IntegratedGradients:
    attributions: np.ndarray  # C x H x W, signed
    target: int
    score: float  # y_c(x)
    baseline_score: float  # y_c(x0)

    @property
    def total(self) -> float:
        return float(self.attributions.astype(np.float64).sum())

    @property
    def completeness_error(self) -> float:
        """|sum of attributions - (y_c(x) - y_c(x0))| relative to |y_c(x) - y_c(x0)|."""
        diff = self.score - self.baseline_score
        return abs(self.total - diff) / max(abs(diff), 1e-12)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    baseline: torch.Tensor | None = None,
    steps: int = 64,
    batch: int = 64,
) -> IntegratedGradients:
    """Signed attributions ``C x H x W`` and the scores that the completeness check compares."""
    x = check_image(x)
    x0 = torch.zeros_like(x) if baseline is None else check_image(baseline)
    if x0.shape != x.shape:
        raise CnnlabError(f"baseline shape {tuple(x0.shape)} differs from the image's {tuple(x.shape)}")
    if steps < 1:
        raise CnnlabError(f"steps must be at least 1, got {steps}")
    with inspecting(model):
        with torch.no_grad():
            scores = model(torch.cat([x, x0])).float()
        t = resolve_target(scores[:1], target)
        alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
        path = x0 + alphas[:, None, None, None] * (x - x0)
        grads = input_gradients(model, path, t, batch)
    attr = (x - x0)[0] * grads.double().mean(0).float()
    return IntegratedGradients(attr.numpy().astype(np.float32), t, float(scores[0, t]), float(scores[1, t]))


def attribution_map(attributions: np.ndarray) -> np.ndarray:
    """Signed ``C x H x W`` attributions -> ``H x W`` in [0, 1]: |sum over channels|, over its maximum."""
    return _unit(torch.from_numpy(np.asarray(attributions, dtype=np.float32)).sum(0).abs())


def _unit(m: torch.Tensor) -> np.ndarray:
    top = m.max()
    return (m / top if top > 0 else torch.zeros_like(m)).numpy().astype(np.float32)


def saliency(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    method: str = "gradient",
    samples: int = 25,
    noise: float = 0.15,
    steps: int = 64,
    batch: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """Saliency map of one image: float32 ``H x W`` in [0, 1] (see the module docstring).

    ``x``: the normalised ``1 x C x H x W`` input; ``target``: the class (``None`` = predicted);
    ``samples``/``noise``/``seed``: SmoothGrad's noisy copies; ``steps``: integrated gradients'
    path points; ``batch``: images per forward.
    """
    if method not in SALIENCY_METHODS:
        raise CnnlabError(f"unknown saliency method {method!r}", f"choose one of {', '.join(SALIENCY_METHODS)}")
    x = check_image(x)
    if method == "integrated":
        ig = integrated_gradients(model, x, target, steps=steps, batch=batch)
        return attribution_map(ig.attributions)
    with inspecting(model):
        with torch.no_grad():
            t = resolve_target(model(x), target)
        if method == "gradient":
            g = input_gradients(model, x, t)[0]
        elif method == "guided":
            with GuidedActivations():
                g = input_gradients(model, x, t)[0]
        else:
            gen = torch.Generator().manual_seed(seed)
            sigma = noise * float(x.max() - x.min())
            noisy = x + sigma * torch.randn((samples, *x.shape[1:]), generator=gen)
            g = input_gradients(model, noisy, t, batch).mean(0)
    return _unit(g.abs().amax(0))
