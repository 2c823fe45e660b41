"""Classification metrics from labels, predictions and probabilities (NumPy, no model needed).

Conventions: a class never predicted has precision 0 (and one never present has recall 0), so
macro means never divide by zero; accuracies are fractions in [0, 1] here and percentages only
where printed. Calibration follows Guo et al. 2017 ("On Calibration of Modern Neural Networks",
section 2): M equal-width confidence bins ((m-1)/M, m/M], ECE = sum_m |B_m|/n |acc(B_m) - conf(B_m)|.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECE_BINS = 15


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """K x K counts: row = true class, column = predicted class."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the fraction of a true class given each prediction); empty rows stay 0."""
    totals = cm.sum(1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=np.float64), where=totals > 0)


@dataclass
class PerClass:
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # true images of each class

    def means(self) -> dict[str, dict[str, float]]:
        """Macro (every class counts the same) and weighted (by support) means of precision, recall, F1."""
        w = self.support / max(int(self.support.sum()), 1)
        return {
            kind: {"precision": float(f(self.precision)), "recall": float(f(self.recall)), "f1": float(f(self.f1))}
            for kind, f in (("macro", np.mean), ("weighted", lambda v: float((v * w).sum())))
        }


def per_class_scores(cm: np.ndarray) -> PerClass:
    """Precision = TP / predicted, recall = TP / true, F1 = their harmonic mean, support = true count."""
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(0), cm.sum(1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return PerClass(precision, recall, f1, support.astype(np.int64))


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of images whose true class is among the ``k`` most probable (ties: lower index first)."""
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(1).mean()) if len(labels) else 0.0


@dataclass
class Reliability:
    edges: np.ndarray  # M + 1 bin edges in [0, 1]
    count: np.ndarray  # images per bin
    confidence: np.ndarray  # mean confidence per bin (0 for empty bins)
    accuracy: np.ndarray  # fraction correct per bin (0 for empty bins)

    @property
    def ece(self) -> float:
        n = max(int(self.count.sum()), 1)
        return float((self.count / n * np.abs(self.accuracy - self.confidence)).sum())


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Bin the top-1 confidences into ``bins`` equal-width bins ((m-1)/M, m/M]; a confidence of 0 joins bin 1."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    hit_sum = np.bincount(index, weights=correct, minlength=bins)
    safe = np.maximum(count, 1)
    return Reliability(
        np.linspace(0, 1, bins + 1),
        count,
        np.where(count > 0, conf_sum / safe, 0.0),
        np.where(count > 0, hit_sum / safe, 0.0),
    )


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the top-1 predictions from class probabilities (N x K) and true labels."""
    probs = np.asarray(probs)
    return reliability(probs.max(1), probs.argmax(1) == np.asarray(labels), bins).ece
