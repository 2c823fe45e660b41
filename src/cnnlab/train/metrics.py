"""Accuracy and evaluation."""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """How many labels are among the top-k logits, for each k (k capped at the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels.unsqueeze(1)
    return [int(hit[:, :min(k, kmax)].any(dim=1).sum()) for k in ks]


@torch.no_grad()
def evaluate(model: nn.Module, loader, autocast: contextlib.AbstractContextManager | None = None,
             device: torch.device | None = None) -> dict[str, float]:
    """Mean loss, top-1 and top-5 accuracy (in %) of ``model`` over ``loader``."""
    was_training = model.training
    model.eval()
    n = loss_sum = top1 = top5 = 0.0
    for x, y in loader:
        if device is not None:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast if autocast is not None else contextlib.nullcontext():
            logits = model(x)
        logits = logits.float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        c1, c5 = topk_correct(logits, y)
        top1 += c1
        top5 += c5
        n += len(y)
    model.train(was_training)
    return {"loss": loss_sum / n, "top1": 100 * top1 / n, "top5": 100 * top5 / n}
