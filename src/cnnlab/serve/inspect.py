"""The page's window into a network: feature maps and Grad-CAM, from ``cnnlab.viz``.

The one place the server touches the visualisation module: ``feature_maps(model, x, layers)``
(asked for every layer that does something: each leaf module that ran, dropout / identity /
flatten left out) and ``gradcam(model, x, target)``. Here the arrays are brought to the shapes the
page draws: C x H x W maps, 1-D vectors (fully connected layers), a heat map at the input's size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..viz import feature_maps, gradcam
from ..viz.hooks import record_shapes

PASS_THROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity, nn.Flatten)


def every_layer(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Leaf modules in the order the forward pass finishes them, each once."""
    names: list[str] = []
    for name, module, shape in record_shapes(model, x):
        if (
            next(module.children(), None) is None
            and not isinstance(module, PASS_THROUGH)
            and len(shape) in (2, 3, 4)
            and name not in names
        ):
            names.append(name)
    return names


def layer_activations(model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Every layer's output for one image: C x H x W arrays for maps, 1-D arrays for vectors."""
    out = {}
    for name, a in feature_maps(model, x, layers=every_layer(model, x)).items():
        out[name] = a[:, 0, 0] if a.shape[1:] == (1, 1) else a
    return out


def class_activation_map(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM for class ``target``: H x W in [0, 1] at the input's size."""
    return gradcam(model, x, target=target)
