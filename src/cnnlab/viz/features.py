"""Feature maps: what each layer of a network outputs for one image (lectures 000 and 004)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .hooks import Taps, as_maps, check_image, inspecting, record_shapes, stage_names


def layer_names(model: nn.Module, x: torch.Tensor, layers=None) -> list[str]:
    """Resolve a layer choice: ``None``/``"stages"`` = the stage outputs (``feature_info``),
    ``"all"`` = every leaf layer with a spatial or token output (forward order), a comma-separated
    string or a list = those names."""
    if layers is None or layers == "stages":
        return stage_names(model)
    if layers == "all":
        with inspecting(model):
            shapes = record_shapes(model, x)
        names: list[str] = []
        for name, module, shape in shapes:
            if next(module.children(), None) is None and len(shape) in (3, 4) and name not in names:
                names.append(name)
        return names
    if isinstance(layers, str):
        return [n.strip() for n in layers.split(",") if n.strip()]
    return list(layers)


def feature_maps(model: nn.Module, x: torch.Tensor, layers=None) -> dict[str, np.ndarray]:
    """The outputs of ``layers`` for one image, as float32 ``C x H x W`` arrays keyed by layer name.

    ``x``: the normalised ``1 x C x H x W`` input. ``layers``: names as ``cnnlab summary`` /
    ``model.named_modules()`` print them, ``"all"``, or ``None`` = the stage outputs of
    ``feature_info``. Transformer tokens are reshaped to the patch grid (class token dropped);
    vectors become ``C x 1 x 1``. A layer called twice keeps its last call.
    """
    x = check_image(x)
    names = layer_names(model, x, layers)
    with inspecting(model), Taps(model, names) as taps, torch.no_grad():
        model(x)
    hw = tuple(x.shape[-2:])
    missing = [n for n in names if n not in taps.outputs]
    if missing:
        from ..errors import CnnlabError

        raise CnnlabError(
            f"layer(s) {', '.join(missing)} did not run (or gave no float tensor) in the forward pass",
            "pick layers from `cnnlab summary MODEL`",
        )
    return {n: as_maps(taps.outputs[n], hw)[0].float().numpy().astype(np.float32, copy=False) for n in names}
