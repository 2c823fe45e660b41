"""Box arithmetic on ``K x 4`` tensors in pixel coordinates, corners ``(x0, y0, x1, y1)``.

A box covers ``x0 <= x < x1``: its width is ``x1 - x0`` (no ``+ 1``, COCO's convention), and a pixel
grid of width ``W`` spans ``0..W``. COCO files store ``(x, y, w, h)``; YOLO files store the centre and
size as fractions of the image (``cx cy w h``).
"""

from __future__ import annotations

import torch


def area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp_min(0) * (boxes[:, 3] - boxes[:, 1]).clamp_min(0)


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    half = boxes[:, 2:] / 2
    return torch.cat([boxes[:, :2] - half, boxes[:, :2] + half], dim=1)


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], dim=1)


def clip(boxes: torch.Tensor, height: int | float, width: int | float) -> torch.Tensor:
    """Boxes cut to the image ``0..width x 0..height``."""
    out = boxes.clone()
    out[:, 0::2] = out[:, 0::2].clamp(0, width)
    out[:, 1::2] = out[:, 1::2].clamp(0, height)
    return out


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``len(a) x len(b)`` intersection over union (0 where both boxes are empty)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    union = area(a)[:, None] + area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def giou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Generalised IoU of matching rows (Rezatofighi et al. 2019): ``IoU - |C \\ (A u B)| / |C|``,
    ``C`` the smallest box enclosing both; in ``[-1, 1]``."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    union = area(a) + area(b) - inter
    iou = inter / (union + eps)
    hull = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp_min(0).prod(-1)
    return iou - (hull - union) / (hull + eps)
