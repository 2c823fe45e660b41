"""The page's window into a network: feature maps and Grad-CAM, from ``cnnlab.viz``.

The one place the server touches the visualisation module: ``feature_maps(model, x, layers=None)
-> {layer name: array}`` and ``gradcam(model, x, target=None, layer=None, method="gradcam") -> H x W in
[0, 1]``. Here the arrays are brought to the shapes the page draws: C x H x W maps, 1-D vectors,
and a heat map at the input's size.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

try:
    from ..viz import feature_maps as _feature_maps
    from ..viz import gradcam as _gradcam
except ImportError:  # the visualisation module has not landed on this branch yet
    from ._viz_stand_in import feature_maps as _feature_maps
    from ._viz_stand_in import gradcam as _gradcam


def layer_activations(model: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Every layer's output for one image: C x H x W arrays for maps, 1-D arrays for vectors."""
    out = {}
    for name, a in _feature_maps(model, x).items():
        a = np.asarray(a.detach().float().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float32)
        if a.ndim == 4 or (a.ndim == 2 and a.shape[0] == 1):  # a batch of one: drop the batch axis
            a = a[0]
        if a.ndim == 3 and a.shape[1:] == (1, 1):  # 1 x 1 maps are a vector
            a = a[:, 0, 0]
        if a.ndim not in (1, 3):
            continue  # token sequences and other shapes have no picture here
        out[name] = a
    return out


def class_activation_map(model: torch.nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM for class ``target`` at the input's height x width, values in [0, 1]."""
    cam = _gradcam(model, x, target=target)
    cam = np.asarray(cam.detach().float().cpu() if isinstance(cam, torch.Tensor) else cam, dtype=np.float32)
    cam = np.squeeze(cam)
    h, w = x.shape[-2:]
    if cam.shape != (h, w):
        cam = np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize((w, h), Image.BILINEAR))
    return np.clip(np.nan_to_num(cam), 0.0, 1.0)
