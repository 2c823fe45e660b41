"""FCOS's loss: focal loss for the classes, GIoU loss for the boxes, binary cross-entropy for the
centerness; the first normalised by the number of positive locations, the other two averaged over
them (Tian et al. 2019, eq. 2; GIoU: Rezatofighi et al. 2019, the authors' later choice over IoU)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .assign import assign, centerness
from .boxes import giou


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sum over elements of ``-alpha_t (1 - p_t)^gamma log(p_t)`` (Lin et al. 2017, eq. 5), with
    ``p_t`` the probability of the true value of each binary target."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).sum()


def ltrb_to_boxes(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    return torch.cat([points - ltrb[:, :2], points + ltrb[:, 2:]], dim=1)


def fcos_loss(
    out: dict, targets: list[dict], ranges: list[tuple[float, float]], radius: float = 1.5
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss of a batch and its parts (detached): ``cls``, ``box``, ``ctr``, ``positives``."""
    cls_logits, box, ctr = out["cls"].float(), out["box"].float(), out["ctr"].float()
    points, strides, levels = out["points"], out["strides"], out["levels"]
    labels, regs = zip(*(assign(points, strides, levels, ranges, t, radius) for t in targets))
    labels = torch.stack(labels)  # N x P
    regs = torch.stack(regs)  # N x P x 4
    pos = labels >= 0
    n_pos = pos.sum()
    one_hot = torch.zeros_like(cls_logits)
    one_hot[pos, labels[pos]] = 1.0
    norm = n_pos.clamp_min(1).float()
    loss_cls = focal_loss(cls_logits, one_hot) / norm
    if n_pos > 0:
        p = points[None].expand(len(targets), -1, -1)[pos]
        target_ltrb = regs[pos]
        loss_box = (1 - giou(ltrb_to_boxes(p, box[pos]), ltrb_to_boxes(p, target_ltrb))).mean()
        loss_ctr = F.binary_cross_entropy_with_logits(ctr[pos], centerness(target_ltrb))
    else:  # no object in the batch: the box branches get a zero loss (that still reaches their parameters)
        loss_box = box.sum() * 0
        loss_ctr = ctr.sum() * 0
    total = loss_cls + loss_box + loss_ctr
    return total, {
        "cls": loss_cls.detach(),
        "box": loss_box.detach(),
        "ctr": loss_ctr.detach(),
        "positives": n_pos.detach(),
    }
