"""Anomaly-detection metrics, written here: AUROC (ties averaged), PRO, thresholds from normal images.

- ``auroc``: the area under the ROC curve as the Mann-Whitney statistic, with tied scores given
  their average rank (so a tie counts one half, as ``sklearn.metrics.roc_auc_score`` does).
- ``pro_auc``: the per-region overlap curve of Bergmann et al. (2021, "The MVTec Anomaly Detection
  Dataset", IJCV), integrated over false-positive rates 0..0.3 and divided by 0.3. At each threshold
  PRO is the mean, over every connected defect region (8-connected) of every test image, of the
  fraction of the region's pixels above the threshold; the FPR is the fraction of defect-free
  pixels (of all test images) above it.
- ``normal_threshold``: a quantile of the scores of held-out normal images (never test images).
"""

from __future__ import annotations

import numpy as np

from ...errors import CnnlabError


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` with ties given the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_flag = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_flag) - 1
    starts = np.flatnonzero(starts_flag)
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), np.float64)
    ranks[order] = mean_rank[group]
    return ranks


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 = anomalous)."""
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise CnnlabError(f"auroc: {s.size} scores but {y.size} labels")
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        raise CnnlabError("auroc needs both normal and anomalous examples", f"got {n0} normal and {n1} anomalous")
    ranks = average_ranks(s)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def label_regions(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a boolean H x W mask: (labels 1..k, 0 outside; k)."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int64), 0
    h, w = mask.shape
    big = h * w + 1
    lab = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), big)
    while True:
        padded = np.pad(lab, 1, constant_values=big)
        low = lab.copy()
        for dy in range(3):
            for dx in range(3):
                np.minimum(low, padded[dy : dy + h, dx : dx + w], out=low)
        low = np.where(mask, low, big)
        flat = low.ravel()  # pointer jumping: a label is a pixel index of its own component
        jumped = np.where(mask, np.minimum(low, np.append(flat, big)[np.minimum(low, big) - 1].reshape(h, w)), big)
        if np.array_equal(jumped, lab):
            break
        lab = jumped
    _, dense = np.unique(lab[mask], return_inverse=True)
    out = np.zeros((h, w), np.int64)
    out[mask] = dense + 1
    return out, int(dense.max()) + 1


def pro_curve(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, PRO) at every distinct threshold of N x H x W ``maps`` against boolean ``masks``."""
    maps = np.asarray(maps, np.float64)
    masks = np.asarray(masks, bool)
    if maps.shape != masks.shape:
        raise CnnlabError(f"pro: maps {maps.shape} and masks {masks.shape} differ in shape")
    weight = np.zeros(maps.shape, np.float64)
    regions = []
    for i in range(len(masks)):
        lab, k = label_regions(masks[i])
        for r in range(1, k + 1):
            regions.append((i, lab == r))
    if not regions:
        raise CnnlabError("pro needs at least one defect region in the masks")
    for i, region in regions:
        weight[i][region] = 1.0 / (len(regions) * region.sum())
    normal = ~masks
    n_normal = int(normal.sum())
    if n_normal == 0:
        raise CnnlabError("pro needs defect-free pixels to measure false positives")
    s = maps.ravel()
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    fpr = np.cumsum(normal.ravel()[order]) / n_normal
    pro = np.cumsum(weight.ravel()[order])
    last_of_tie = np.r_[s_sorted[1:] != s_sorted[:-1], True]
    return np.r_[0.0, fpr[last_of_tie]], np.r_[0.0, pro[last_of_tie]]


def pro_auc(maps: np.ndarray, masks: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Area under the PRO curve for FPR in [0, fpr_limit], divided by ``fpr_limit`` (1 is perfect)."""
    fpr, pro = pro_curve(maps, masks)
    keep = fpr <= fpr_limit
    x, y = fpr[keep], pro[keep]
    if x[-1] < fpr_limit and (~keep).any():  # the curve's value at fpr_limit, by linear interpolation
        j = int(np.argmax(~keep))
        t = (fpr_limit - fpr[j - 1]) / (fpr[j] - fpr[j - 1])
        x, y = np.r_[x, fpr_limit], np.r_[y, pro[j - 1] + t * (pro[j] - pro[j - 1])]
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area / fpr_limit


def normal_threshold(normal_scores, quantile: float = 0.99) -> float:
    """The ``quantile`` of scores of held-out normal images: above it, an image is called anomalous."""
    s = np.asarray(normal_scores, np.float64).ravel()
    if s.size == 0:
        raise CnnlabError(
            "no normal validation images to choose a threshold on", "hold out part of train/good (--val-fraction)"
        )
    if not 0 < quantile <= 1:
        raise CnnlabError(f"threshold quantile {quantile} is not in (0, 1]", "use e.g. 0.99")
    return float(np.quantile(s, quantile))
