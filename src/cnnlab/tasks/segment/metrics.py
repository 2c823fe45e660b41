"""Segmentation metrics from one confusion matrix (rows: true class, columns: predicted class).

- pixel accuracy = correctly labelled pixels / labelled pixels;
- IoU of class c (Jaccard index) = TP / (TP + FP + FN) = ``cm[c, c] / (row c + column c - cm[c, c])``;
- mean IoU = the mean over the classes present in the truth or in the prediction. A class absent from
  both has 0 / 0: it is excluded from the mean (and reported as None), as in Long et al. 2015's
  "mean IU" over the classes of the data set and the VOC / Cityscapes evaluation code; a class
  predicted but never true counts with IoU 0.

Pixels labelled ``ignore_index`` (255, as in PASCAL VOC's object borders) count nowhere.
"""

from __future__ import annotations

import torch

IGNORE_INDEX = 255


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """``num_classes x num_classes`` int64 counts: ``cm[t, p]`` pixels of true class t predicted as p."""
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    bad = (target < 0) | (target >= num_classes)
    if bad.any():
        from ...errors import CnnlabError

        raise CnnlabError(
            f"a mask holds label {int(target[bad][0])}, outside 0..{num_classes - 1} "
            f"(and not the ignore label {ignore_index})",
            "masks hold class indices; fix the mask or list every class in classes.txt",
        )
    return torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes).view(num_classes, -1)


def iou_per_class(cm: torch.Tensor) -> list[float | None]:
    """IoU of each class; ``None`` for a class neither true nor predicted anywhere."""
    cm = cm.double()
    tp = cm.diagonal()
    union = cm.sum(0) + cm.sum(1) - tp
    return [float(t / u) if u > 0 else None for t, u in zip(tp, union)]


def mean_iou(cm: torch.Tensor) -> float:
    """Mean of :func:`iou_per_class` over the classes that occur (in truth or prediction); NaN if none does."""
    values = [v for v in iou_per_class(cm) if v is not None]
    return sum(values) / len(values) if values else float("nan")


def pixel_accuracy(cm: torch.Tensor) -> float:
    total = int(cm.sum())
    return float(cm.diagonal().sum()) / total if total else float("nan")


def summarize(cm: torch.Tensor) -> dict[str, float]:
    """``{"pixel_acc", "miou"}`` in percent (the units of the trainer's top-1)."""
    return {"pixel_acc": 100.0 * pixel_accuracy(cm), "miou": 100.0 * mean_iou(cm)}
