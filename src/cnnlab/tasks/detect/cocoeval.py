"""COCO box evaluation, written here and checked to 1e-6 against ``pycocotools`` (tests/detect).

The rules of the COCO detection benchmark (Lin et al. 2014; the reference is ``COCOeval`` with
``iouType="bbox"``), one by one:

- IoU of boxes ``(x, y, w, h)`` without ``+ 1``; against a *crowd* ground truth the union is the
  detection's own area (a detection inside a crowd region matches it);
- per image and class, detections sorted by score (stable) and cut to ``maxDets`` (1, 10, 100);
- ground truth is *ignored* when it is a crowd or its ``area`` (the annotation's ``area`` field,
  else the box area) lies outside the area range (all, small < 32^2, medium 32^2..96^2, large > 96^2,
  bounds inclusive); a detection matched to an ignored ground truth is ignored, and so is an
  unmatched detection whose box area is outside the range;
- greedy matching at each IoU threshold 0.50:0.05:0.95: each detection, best score first, takes
  the unmatched ground truth of highest IoU >= the threshold, preferring a regular one to an
  ignored one (a crowd can take any number of detections);
- precision made monotone (each value the maximum to its right) and read at the 101 recall points
  0:0.01:1 (the first detection reaching each recall; 0 beyond the last recall reached);
- AP = mean over thresholds and classes of those 101 values; AR = mean of the final recall; a
  class with no regular ground truth in an area range is left out of that range's mean (-1 when
  nothing is left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
RECALL_POINTS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0.0, 1e5**2), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e5**2)}
# the twelve numbers of COCO's summary: (key, AP or AR, IoU threshold or None = 0.50:0.95, area, maxDets)
STATS = (
    ("ap", True, None, "all", 100),
    ("ap50", True, 0.5, "all", 100),
    ("ap75", True, 0.75, "all", 100),
    ("ap_small", True, None, "small", 100),
    ("ap_medium", True, None, "medium", 100),
    ("ap_large", True, None, "large", 100),
    ("ar1", False, None, "all", 1),
    ("ar10", False, None, "all", 10),
    ("ar100", False, None, "all", 100),
    ("ar_small", False, None, "small", 100),
    ("ar_medium", False, None, "medium", 100),
    ("ar_large", False, None, "large", 100),
)
# the lecture's COCO leaderboard columns, then the recall figures
TABLE_COLUMNS = (
    ("AP", "ap"),
    ("AP50", "ap50"),
    ("AP75", "ap75"),
    ("APS", "ap_small"),
    ("APM", "ap_medium"),
    ("APL", "ap_large"),
)
RECALL_COLUMNS = (
    ("AR1", "ar1"),
    ("AR10", "ar10"),
    ("AR100", "ar100"),
    ("ARS", "ar_small"),
    ("ARM", "ar_medium"),
    ("ARL", "ar_large"),
)


def _array(x, shape_tail=(), dtype=np.float64) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x if x is not None else [], dtype=dtype)
    return a.reshape(-1, *shape_tail) if shape_tail or a.ndim != 1 else a


@dataclass
class GroundTruth:
    """One image's ground truth: ``boxes`` K x 4 corners ``(x0, y0, x1, y1)``, ``labels`` K class ids;
    ``iscrowd`` (default none) and ``area`` (default: the box areas) as in a COCO annotation."""

    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray | None = None
    area: np.ndarray | None = None

    def __post_init__(self):
        self.boxes = _array(self.boxes, (4,))
        self.labels = _array(self.labels, dtype=np.int64)
        n = len(self.boxes)
        self.iscrowd = np.zeros(n, bool) if self.iscrowd is None else _array(self.iscrowd, dtype=bool)
        wh = self.boxes[:, 2:] - self.boxes[:, :2]
        self.area = wh[:, 0] * wh[:, 1] if self.area is None else _array(self.area)


@dataclass
class Detections:
    """One image's detections: ``boxes`` D x 4 corners, ``scores`` D, ``labels`` D class ids."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        self.boxes = _array(self.boxes, (4,))
        self.scores = _array(self.scores)
        self.labels = _array(self.labels, dtype=np.int64)


def box_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """D x G IoU of ``(x, y, w, h)`` boxes; against a crowd box the union is the detection's area."""
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)))
    w = np.minimum(dt[:, None, 0] + dt[:, None, 2], gt[None, :, 0] + gt[None, :, 2]) - np.maximum(
        dt[:, None, 0], gt[None, :, 0]
    )
    h = np.minimum(dt[:, None, 1] + dt[:, None, 3], gt[None, :, 1] + gt[None, :, 3]) - np.maximum(
        dt[:, None, 1], gt[None, :, 1]
    )
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    da, ga = dt[:, 2] * dt[:, 3], gt[:, 2] * gt[:, 3]
    union = np.where(crowd[None, :], da[:, None], da[:, None] + ga[None, :] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _match(ious: np.ndarray, gt_ignore: np.ndarray, crowd: np.ndarray, n_dt: int):
    """Greedy matching at every IoU threshold: (matched T x D, matched-to-ignored T x D)."""
    T, G = len(IOU_THRESHOLDS), len(gt_ignore)
    matched = np.zeros((T, n_dt), bool)
    ignored = np.zeros((T, n_dt), bool)
    if G == 0 or n_dt == 0:
        return matched, ignored
    top = ious.max(axis=1)
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(G, bool)
        # a detection below the threshold with every ground truth matches nothing and changes nothing
        for d in np.flatnonzero(top >= min(thr, 1 - 1e-10)).tolist():
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(G):  # regular ground truth first (sorted so), then the ignored
                if taken[g] and not crowd[g]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break  # a regular match beats any ignored one
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m == -1:
                continue
            matched[t, d], ignored[t, d], taken[m] = True, gt_ignore[m], True
    return matched, ignored


def evaluate_boxes(
    ground_truth: list, detections: list, num_classes: int | None = None, classes: list[int] | None = None
) -> dict:
    """COCO's twelve numbers (``STATS`` keys, in [0, 1], -1 where undefined) for matching lists of
    :class:`GroundTruth` and :class:`Detections` (one of each per image, in image-id order), plus
    ``per_class_ap`` (AP@[.50:.95] of each class, -1 without ground truth) and the raw
    ``precision`` (T x R x K x A x M) and ``recall`` (T x K x A x M) arrays.

    ``classes`` are the category ids evaluated (default ``0..num_classes-1``, else those in the
    ground truth): COCO evaluates every category of the annotation file.
    """
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(detections)} detection lists")
    gts = [g if isinstance(g, GroundTruth) else GroundTruth(**g) for g in ground_truth]
    dts = [d if isinstance(d, Detections) else Detections(**d) for d in detections]
    if classes is None:
        classes = (
            list(range(num_classes)) if num_classes is not None else sorted({int(c) for g in gts for c in g.labels})
        )
    # per (class, area range): the per-image evaluations, in image order
    per: list[list[list[tuple]]] = [[[] for _ in AREA_RANGES] for _ in classes]
    for g, d in zip(gts, dts):
        for k, cat in enumerate(classes):
            for a, evaluation in enumerate(_evaluate_image(g, d, cat)):
                per[k][a].append(evaluation)
    precision, recall = _accumulate(per)
    return _summarize(precision, recall)


def _evaluate_image(g: GroundTruth, d: Detections, cat: int) -> list[tuple]:
    """One image and class, per area range: (scores, matched T x D, ignored T x D, regular ground
    truths), detections best first and cut to the largest maxDets; empty when the image has neither."""
    gi = np.flatnonzero(g.labels == cat)
    di = np.flatnonzero(d.labels == cat)
    if len(gi) == 0 and len(di) == 0:
        return []
    di = di[np.argsort(-d.scores[di], kind="mergesort")][: MAX_DETS[-1]]
    dbox = d.boxes[di].copy()
    dbox[:, 2:] -= dbox[:, :2]  # (x, y, w, h)
    gbox = g.boxes[gi].copy()
    gbox[:, 2:] -= gbox[:, :2]
    crowd = g.iscrowd[gi]
    ious = box_iou(dbox, gbox, crowd)
    d_area = dbox[:, 2] * dbox[:, 3]
    scores = d.scores[di]
    evaluations = []
    for lo, hi in AREA_RANGES.values():
        ignore = crowd | (g.area[gi] < lo) | (g.area[gi] > hi)
        order = np.argsort(ignore, kind="mergesort")
        matched, m_ignored = _match(ious[:, order], ignore[order], crowd[order], len(di))
        outside = (d_area < lo) | (d_area > hi)
        d_ignore = m_ignored | (~matched & outside[None, :])
        evaluations.append((scores, matched, d_ignore, int((~ignore).sum())))
    return evaluations


def _accumulate(per: list[list[list[tuple]]]) -> tuple[np.ndarray, np.ndarray]:
    """The per-image evaluations of each (class, area range) pooled: precision at the recall points
    (T x R x K x A x M) and final recall (T x K x A x M), -1 where the class has no regular ground truth."""
    T, R, K, A, M = len(IOU_THRESHOLDS), len(RECALL_POINTS), len(per), len(AREA_RANGES), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k in range(K):
        for a in range(A):
            evals = per[k][a]
            if not evals:
                continue
            n_regular = sum(e[3] for e in evals)
            if n_regular == 0:
                continue
            for m, max_det in enumerate(MAX_DETS):
                scores = np.concatenate([e[0][:max_det] for e in evals])
                order = np.argsort(-scores, kind="mergesort")
                matched = np.concatenate([e[1][:, :max_det] for e in evals], axis=1)[:, order]
                ignored = np.concatenate([e[2][:, :max_det] for e in evals], axis=1)[:, order]
                tp = np.cumsum(matched & ~ignored, axis=1).astype(float)
                fp = np.cumsum(~matched & ~ignored, axis=1).astype(float)
                for t in range(T):
                    rc = tp[t] / n_regular
                    pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if len(rc) else 0
                    pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
                    at = np.searchsorted(rc, RECALL_POINTS, side="left")
                    q = np.zeros(R)
                    ok = at < len(pr)
                    q[ok] = pr[at[ok]]
                    precision[t, :, k, a, m] = q
    return precision, recall


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict:
    """The twelve ``STATS`` numbers, ``per_class_ap``, and the raw arrays."""
    out = {}
    areas, dets = list(AREA_RANGES), list(MAX_DETS)
    for key, is_ap, thr, area_name, max_det in STATS:
        a, m = areas.index(area_name), dets.index(max_det)
        s = precision[..., a, m] if is_ap else recall[..., a, m]
        if thr is not None:
            s = s[np.flatnonzero(IOU_THRESHOLDS == thr)]
        valid = s[s > -1]
        out[key] = float(np.mean(valid)) if valid.size else -1.0
    per_class = []
    for k in range(precision.shape[2]):
        s = precision[:, :, k, 0, -1]
        per_class.append(float(np.mean(s[s > -1])) if (s > -1).any() else -1.0)
    out["per_class_ap"] = per_class
    out["precision"], out["recall"] = precision, recall
    return out


def format_table(stats: dict, split: str = "", recall: bool = True) -> str:
    """The COCO numbers as percentages in the lecture's column order (AP, AP50, AP75, APS, APM,
    APL), then the recall columns; ``-`` where COCO gives -1 (no ground truth in that range)."""
    cols = TABLE_COLUMNS + (RECALL_COLUMNS if recall else ())
    head = "  ".join(f"{name:>6}" for name, _ in cols)
    cells = "  ".join(f"{'-':>6}" if stats[key] < 0 else f"{100 * stats[key]:6.1f}" for _, key in cols)
    title = f"COCO box evaluation{f' ({split} split)' if split else ''}, IoU 0.50:0.95 unless named, maxDets 100"
    return f"{title}\n{head}\n{cells}"
