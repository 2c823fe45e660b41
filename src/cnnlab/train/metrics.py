"""Accuracy and evaluation (with optional test-time augmentation)."""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[torch.Tensor]:
    """How many labels are among the top-k logits, for each k (k capped at the class count), as tensors
    on the logits' device (no host synchronisation)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels.unsqueeze(1)
    return [hit[:, : min(k, kmax)].any(dim=1).sum() for k in ks]


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """How many labels are among the top-k logits, for each k (k capped at the class count)."""
    return [int(h) for h in topk_hits(logits, labels, ks)]


def tta_logits(model: nn.Module, x: torch.Tensor, tta: str = "none") -> torch.Tensor:
    """Logits averaged over test-time views (airbench94's levels, Jordan 2024).

    ``flip``: the image and its mirror image, weight 1/2 each. ``flip-translate``: half that, plus
    half the mean of the same pair shifted one pixel up-left and one pixel down-right (reflect
    padding) - six views in all.
    """

    def mirror(inp: torch.Tensor) -> torch.Tensor:
        return 0.5 * model(inp).float() + 0.5 * model(inp.flip(-1)).float()

    if tta == "none":
        return model(x).float()
    logits = mirror(x)
    if tta == "flip":
        return logits
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    shifted = [padded[..., 0:h, 0:w], padded[..., 2 : h + 2, 2 : w + 2]]
    if x.is_contiguous(memory_format=torch.channels_last):
        shifted = [s.contiguous(memory_format=torch.channels_last) for s in shifted]
    return 0.5 * logits + 0.25 * (mirror(shifted[0]) + mirror(shifted[1]))


@torch.no_grad()
def evaluate_sums(
    model: nn.Module,
    loader,
    autocast: contextlib.AbstractContextManager | None = None,
    device: torch.device | None = None,
    tta: str = "none",
) -> list[float]:
    """``[n, loss_sum, top1_count, top5_count]`` of ``model`` over ``loader`` (sums add across shards)."""
    was_training = model.training
    model.eval()
    n = loss_sum = top1 = top5 = 0.0
    for x, y in loader:
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast if autocast is not None else contextlib.nullcontext():
            logits = tta_logits(model, x, tta)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        c1, c5 = topk_correct(logits, y)
        top1 += c1
        top5 += c5
        n += len(y)
    model.train(was_training)
    return [n, loss_sum, top1, top5]


def summarize(sums: list[float], num_classes: int | None = None) -> dict[str, float | None]:
    """Mean loss, top-1 and top-5 (in %); top-5 is None with 5 classes or fewer (it would be 100%)."""
    n, loss_sum, top1, top5 = sums
    n = max(n, 1)
    has_top5 = num_classes is None or num_classes > 5
    return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n if has_top5 else None}


def evaluate(
    model: nn.Module,
    loader,
    autocast: contextlib.AbstractContextManager | None = None,
    device: torch.device | None = None,
    tta: str = "none",
) -> dict[str, float | None]:
    """Mean loss, top-1 and top-5 accuracy (in %) of ``model`` over ``loader``."""
    return summarize(evaluate_sums(model, loader, autocast, device, tta), len(loader.data.classes))
