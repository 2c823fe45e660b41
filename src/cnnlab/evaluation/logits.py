"""The one logits pass of evaluation: batches of normalised images through a *runner*.

A runner is any ``Callable[[Tensor], Tensor]`` taking a float N x C x H x W batch, normalised as
the model was trained, and returning N x K logits. The default runner is the eager PyTorch model
(with bf16 autocast where the run trained in bf16); other engines (ONNX Runtime, OpenVINO) plug in
by passing their own runner, so every number of ``cnnlab evaluate`` is computed the same way
whatever executes the network.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from ..data import BatchLoader, ImageDataset
from ..progress import bar_enabled
from ..train.metrics import tta_logits

Runner = Callable[[torch.Tensor], torch.Tensor]


def eager_runner(model: nn.Module, precision: str = "fp32", device: torch.device | None = None) -> Runner:
    """The model itself in eval mode, under bf16 autocast when ``precision == "bf16"``."""
    device = device or next(model.parameters()).device
    model.eval()

    @torch.no_grad()
    def run(x: torch.Tensor) -> torch.Tensor:
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        with ctx:
            return model(x.to(device)).float()

    return run


@torch.no_grad()
def compute_logits(
    runner: Runner,
    data: ImageDataset,
    mean: list[float],
    std: list[float],
    *,
    batch_size: int = 256,
    tta: str = "none",
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "evaluating",
) -> torch.Tensor:
    """N x K float32 logits of ``runner`` over ``data`` (uint8 images, normalised here with ``mean``/``std``).

    ``tta``: ``flip`` averages the image and its mirror image, ``flip-translate`` adds one-pixel shifts
    (cnnlab.train.metrics.tta_logits: the views go through the same runner).
    """
    loader = BatchLoader(data, batch_size, mean, std, channels_last=channels_last)
    out = []
    with tqdm(
        total=len(data), unit="img", desc=desc, leave=False, disable=not bar_enabled(progress), dynamic_ncols=True
    ) as bar:
        for x, _ in loader:
            out.append(tta_logits(runner, x, tta).float().cpu())
            bar.update(len(x))
    if not out:
        return torch.zeros(0, len(data.classes))
    return torch.cat(out)
