"""Evaluation: metrics (confusion, precision/recall/F1, calibration), the logits pass with pluggable
runners, the pictures, and :func:`evaluate` (``cnnlab.evaluate``, ``cnnlab evaluate``)."""

from .logits import Runner, compute_logits, eager_runner
from .metrics import (
    ECE_BINS,
    PerClass,
    Reliability,
    confusion_matrix,
    expected_calibration_error,
    per_class_scores,
    reliability,
    row_normalised,
    topk_accuracy,
)
from .run import EvaluationResult, evaluate

__all__ = [
    "ECE_BINS",
    "EvaluationResult",
    "PerClass",
    "Reliability",
    "Runner",
    "compute_logits",
    "confusion_matrix",
    "eager_runner",
    "evaluate",
    "expected_calibration_error",
    "per_class_scores",
    "reliability",
    "row_normalised",
    "topk_accuracy",
]
