"""How a deployed copy is scored against its fp32 self, per task (``cnnlab quantize``):

- classification: top-1 accuracy; agreement = images given the same class;
- segmentation: mean IoU (and pixel accuracy; ignore-labelled pixels count nowhere); agreement =
  pixels given the same class;
- detection: COCO box AP@[.50:.95] (and AP50) in the files' pixels; agreement = images with the
  same classes found and every box within 1 pixel. The runner computes the dense detections
  (:class:`cnnlab.tasks.detect.deploy.DenseDetector`); thresholds and NMS run after it.

``score(run, data, meta)`` -> (the main number in [0, 1], secondary numbers, predictions to
compare); ``agreement(a, b)`` -> the share that agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .source import normalize

PIXELS_PER_CHUNK = 1 << 22  # segmentation logits of at most ~4M pixels x classes in memory at once


@dataclass
class Scorer:
    metric: str  # what the main number is
    agreement_of: str  # what the agreement share counts
    score: Callable  # (run, data, meta, progress) -> (float, dict[str, float], predictions)
    agreement: Callable  # (predictions, predictions) -> float


def scorer_for(task: str | None, dense=None) -> Scorer:
    """The scorer of a run's task (``dense``: a detector's DenseDetector, for its settings)."""
    if task == "segment":
        return Scorer("mIoU", "pixels given the same class", _segment_score, _same_share)
    if task == "detect":
        return Scorer(
            "box AP",
            "images with the same classes and boxes within 1 pixel",
            lambda run, data, meta, progress: _detect_score(run, data, meta, progress, dense),
            _same_detections_share,
        )
    return Scorer("top-1", "images given the same class", _classify_score, _same_share)


def head(data, limit: int | None):
    """The first ``limit`` held-out images (all without a limit) with their labels or targets."""
    if not limit or limit >= len(data.images):
        return data
    from types import SimpleNamespace

    part = SimpleNamespace(images=data.images[:limit], classes=getattr(data, "classes", []))
    if hasattr(data, "targets"):
        part.targets = data.targets[:limit]
    else:
        part.labels = data.labels[:limit]
    return part


def _chunks(n: int, size: int, desc: str | None):
    from tqdm import tqdm

    return tqdm(range(0, n, size), desc=desc, disable=desc is None, leave=False)


def _classify_score(run, data, meta, progress):
    preds = [run(normalize(meta, data.images[i : i + 256])).argmax(1) for i in _chunks(len(data.images), 256, progress)]
    pred = torch.cat(preds)
    return float((pred == data.labels).float().mean()), {}, pred


def _segment_score(run, data, meta, progress):
    from ..tasks.segment.metrics import confusion_matrix, summarize

    h, w = data.images.shape[-2:]
    size = max(1, PIXELS_PER_CHUNK // (h * w))
    k = len(meta["classes"])
    cm = torch.zeros(k, k, dtype=torch.long)
    preds = []
    for i in _chunks(len(data.images), size, progress):
        pred = run(normalize(meta, data.images[i : i + size])).argmax(1).to(torch.uint8)
        cm += confusion_matrix(pred, data.labels[i : i + size], k)
        preds.append(pred)
    numbers = summarize(cm)
    return numbers["miou"] / 100, {"pixel accuracy": numbers["pixel_acc"] / 100}, torch.cat(preds)


def _same_share(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a == b).float().mean())


def _detect_score(run, data, meta, progress, dense):
    from ..tasks.detect.cocoeval import evaluate_boxes
    from ..tasks.detect.task import in_file_pixels

    dets = []
    for i in _chunks(len(data.images), 32, progress):
        dets += dense.select(run(normalize(meta, data.images[i : i + 32])))
    pairs = [in_file_pixels(t, d) for t, d in zip(data.targets, dets)]
    result = evaluate_boxes([g for g, _ in pairs], [d for _, d in pairs], num_classes=len(data.classes))
    ap50 = max(float(result["ap50"]), 0.0)
    return max(float(result["ap"]), 0.0), {"AP50": ap50}, dets


def _same_detections_share(a: list[dict], b: list[dict]) -> float:
    from ..tasks.detect.deploy import same_detections

    same = [same_detections(x, y, box_tol=1.0, score_tol=float("inf")) for x, y in zip(a, b)]
    return sum(same) / max(len(same), 1)
