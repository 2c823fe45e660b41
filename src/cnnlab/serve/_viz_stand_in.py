"""Temporary stand-in for cnnlab.viz.feature_maps / gradcam until the visualisation module lands."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _layers(model):
    return [(n, m) for n, m in model.named_modules()
            if n and not list(m.children()) and not isinstance(m, (torch.nn.Dropout, torch.nn.Identity))]


def feature_maps(model, x, layers=None):
    out, hooks = {}, []
    for n, m in _layers(model):
        if layers is None or n in layers:
            hooks.append(m.register_forward_hook(lambda mod, i, o, n=n: out.__setitem__(n, o.detach()[0].numpy())))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return out


def gradcam(model, x, target=None, layer=None, method="gradcam"):
    convs = [(n, m) for n, m in _layers(model) if isinstance(m, torch.nn.Conv2d)]
    store = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: store.__setitem__(n, o)) for n, m in convs]
    try:
        with torch.enable_grad():
            logits = model(x)
            name = layer or [n for n, _ in convs if store[n].shape[-1] > 1][-1]
            a = store[name]
            t = int(logits.argmax(1)) if target is None else target
            g, = torch.autograd.grad(logits[0, t], a)
    finally:
        for h in hooks:
            h.remove()
    cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0].detach().numpy()
    return cam / cam.max() if cam.max() > 0 else cam
