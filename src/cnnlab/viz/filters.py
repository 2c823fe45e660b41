"""Learned convolution kernels: "what the network looks for" (lecture 000; AlexNet's 96 first-layer
filters in lectures 002 and 004)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from .hooks import module_named


def conv_layer(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Module]:
    """``(name, module)`` of ``layer``, or of the first module with a 4-D kernel (the first convolution)."""
    if layer is not None:
        module = module_named(model, layer)
        weight = getattr(module, "weight", None)
        if weight is None or weight.dim() != 4:
            convs = [
                n for n, m in model.named_modules() if getattr(m, "weight", None) is not None and m.weight.dim() == 4
            ][:5]
            raise CnnlabError(
                f"layer {layer!r} ({type(module).__name__}) has no convolution kernel",
                f"pick a convolution, e.g. {', '.join(convs)}" if convs else None,
            )
        return layer, module
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and weight.dim() == 4:
            return name, module
    raise CnnlabError(f"{type(model).__name__} has no convolution", "filters exist only for convolutional layers")


def first_layer_filters(model: nn.Module, layer: str | None = None) -> np.ndarray:
    """The kernels of ``layer`` (default: the first convolution) as float32
    ``out_channels x in_channels/groups x kh x kw`` (a copy: the model is not touched)."""
    _, module = conv_layer(model, layer)
    return module.weight.detach().float().cpu().numpy().copy()


def normalise_each(kernels: np.ndarray) -> np.ndarray:
    """Per-filter contrast stretch to [0, 1] over all of a filter's values (zero-range filters: grey 0.5)."""
    k = kernels.astype(np.float32)
    axes = tuple(range(1, k.ndim))
    lo = k.min(axis=axes, keepdims=True)
    hi = k.max(axis=axes, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (k - lo) / np.where(span > 0, span, 1), 0.5).astype(np.float32)
