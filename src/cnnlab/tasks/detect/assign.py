"""FCOS's training targets: which locations are positives for which object (Tian et al. 2019, 3.1-3.2).

A location (x, y) of stride s is a positive for a ground-truth box when

1. it lies inside the box and, with centre sampling, within ``radius x s`` of the box centre
   (the sub-box clipped to the box; the authors' later improvement), and
2. its largest distance to the box sides ``max(l, t, r, b)`` lies in its level's size range
   ``(lo, hi]`` (multi-level prediction: small objects on fine levels, large on coarse ones);

a location that qualifies for several boxes takes the one of smallest area. Crowd boxes are never
targets. The regression target is ``(l, t, r, b)``, the centerness target
``sqrt(min(l, r) / max(l, r) x min(t, b) / max(t, b))``.
"""

from __future__ import annotations

import torch


def assign(
    points: torch.Tensor,
    strides: torch.Tensor,
    levels: torch.Tensor,
    ranges: list[tuple[float, float]],
    target: dict,
    radius: float = 1.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per location: the class (``-1`` background) and the (l, t, r, b) target (P x 4; zeros on
    background) for one image's ``target`` (boxes, labels, iscrowd)."""
    P = len(points)
    keep = ~target["iscrowd"].to(points.device)
    boxes = target["boxes"].to(points.device, torch.float32)[keep]
    labels = target["labels"].to(points.device)[keep]
    if len(boxes) == 0:
        return torch.full((P,), -1, dtype=torch.long, device=points.device), torch.zeros(P, 4, device=points.device)
    x, y = points[:, 0:1], points[:, 1:2]  # P x 1
    ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2)  # P x K x 4
    inside = ltrb.min(dim=2).values > 0
    if radius > 0:
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        r = radius * strides[:, None].float()
        x0, y0 = torch.maximum(cx - r, boxes[:, 0]), torch.maximum(cy - r, boxes[:, 1])
        x1, y1 = torch.minimum(cx + r, boxes[:, 2]), torch.minimum(cy + r, boxes[:, 3])
        inside &= (x > x0) & (y > y0) & (x < x1) & (y < y1)
    lo = torch.tensor([r[0] for r in ranges], device=points.device)[levels][:, None]
    hi = torch.tensor([r[1] for r in ranges], device=points.device)[levels][:, None]
    reach = ltrb.max(dim=2).values
    ok = inside & (reach > lo) & (reach <= hi)
    areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None, :].expand(P, -1)
    areas = torch.where(ok, areas, torch.full_like(areas, float("inf")))
    best_area, best = areas.min(dim=1)
    cls = torch.where(torch.isfinite(best_area), labels[best], torch.full_like(best, -1))
    reg = ltrb[torch.arange(P, device=points.device), best]
    reg = torch.where(cls[:, None] >= 0, reg, torch.zeros_like(reg))
    return cls, reg


def centerness(ltrb: torch.Tensor) -> torch.Tensor:
    lr, tb = ltrb[:, 0::2], ltrb[:, 1::2]
    ratio = (lr.min(1).values / lr.max(1).values.clamp_min(1e-6)) * (
        tb.min(1).values / tb.max(1).values.clamp_min(1e-6)
    )
    return ratio.clamp_min(0).sqrt()
