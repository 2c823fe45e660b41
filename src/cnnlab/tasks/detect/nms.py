"""Non-maximum suppression, written here: greedy, batched over classes (and images).

Greedy NMS keeps the highest-scoring box, removes every remaining box whose IoU with it exceeds
the threshold, and repeats. *Class-aware* NMS runs it separately per class; :func:`batched_nms`
does all classes in one pass with the coordinate-offset trick: each box is shifted by
``class x (span + 1)`` along both axes, so boxes of different classes can never overlap and one
greedy pass over the shifted boxes equals one pass per class.
"""

from __future__ import annotations

import torch

from .boxes import pairwise_iou


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes greedy NMS keeps, by decreasing score (ties: the lower index first).

    A box is suppressed when its IoU with a kept, higher-scoring box is strictly above
    ``iou_threshold``. The IoU matrix is computed once (``K x K``), then the greedy pass walks it.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    ordered = boxes[order] if boxes.dtype == torch.float64 else boxes[order].float()
    iou = pairwise_iou(ordered, ordered)
    over = (iou > iou_threshold).cpu()
    n = len(order)
    removed = torch.zeros(n, dtype=torch.bool)
    keep = []
    for i in range(n):  # one Python step per kept-or-removed box; each row is a vector operation
        if removed[i]:
            continue
        keep.append(i)
        removed |= over[i]
    return order[torch.tensor(keep, dtype=torch.long, device=order.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Class-aware NMS: boxes only suppress boxes of the same ``groups`` value (class, or
    ``image x classes + class`` for a whole batch). Indices kept, by decreasing score."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    boxes = boxes.double()  # float64: a shift by thousands of spans keeps sub-pixel precision
    lo, hi = boxes.min(), boxes.max()
    offset = groups.to(torch.float64) * torch.ceil(hi - lo + 1)
    return nms(boxes - lo + offset[:, None], scores, iou_threshold)
