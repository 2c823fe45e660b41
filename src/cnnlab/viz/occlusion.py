"""Occlusion sensitivity (Zeiler and Fergus 2014, section 4.2): slide a grey square over the image
and watch the probability of the class. Where it drops, the network was looking."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from .hooks import check_image, inspecting, resolve_target


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Top (or left) edges of the windows: every ``stride`` pixels, plus one flush with the far border."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: int | None = None,
    patch: int = 8,
    stride: int = 4,
    batch: int = 64,
    fill: float = 0.0,
    progress: bool = False,
) -> np.ndarray:
    """Probability of ``target`` (``None`` = predicted) with a ``patch`` x ``patch`` square of value
    ``fill`` (0 = the training mean after normalisation: grey) over each pixel: float32 ``H x W``,
    each pixel the mean over the windows covering it (every pixel is covered at least once).
    ``batch`` occluded images go through the network at a time."""
    x = check_image(x)
    h, w = x.shape[-2:]
    if patch < 1 or stride < 1:
        raise CnnlabError(f"patch and stride must be positive, got patch={patch}, stride={stride}")
    patch = min(patch, h, w)
    boxes = [(top, left) for top in window_starts(h, patch, stride) for left in window_starts(w, patch, stride)]
    total = torch.zeros(h, w, dtype=torch.float64)
    count = torch.zeros(h, w, dtype=torch.float64)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(boxes), unit="window", desc="occlusion", leave=False)
    with inspecting(model), torch.no_grad():
        t = resolve_target(model(x), target)
        for i in range(0, len(boxes), batch):
            chunk = boxes[i : i + batch]
            xs = x.repeat(len(chunk), 1, 1, 1)
            for k, (top, left) in enumerate(chunk):
                xs[k, :, top : top + patch, left : left + patch] = fill
            p = torch.softmax(model(xs).float(), dim=1)[:, t].double()
            for k, (top, left) in enumerate(chunk):
                total[top : top + patch, left : left + patch] += p[k]
                count[top : top + patch, left : left + patch] += 1
            if bar is not None:
                bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return (total / count).float().numpy()
