"""The losses of lecture 004's "Linear Classification" slide, on score matrices (NumPy and torch).

- multiclass SVM (Weston & Watkins 1999, as the lecture writes it):
  ``L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + Delta)``
- softmax (cross-entropy): ``L_i = -log(e^{s_{y_i}} / sum_j e^{s_j})``
- L2 regularisation ``R(W) = sum_{k,l} w_kl^2``; ``L = 1/N sum_i L_i + lambda R(W)``.
"""

from __future__ import annotations

import numpy as np
import torch

LOSSES = ("softmax", "svm")


def svm_loss_terms(scores, label: int, delta: float = 1.0) -> np.ndarray:
    """Per-class hinge terms ``max(0, s_j - s_y + Delta)`` of one example (0 at the true class)."""
    s = np.asarray(scores, dtype=np.float64)
    terms = np.maximum(0.0, s - s[label] + delta)
    terms[label] = 0.0
    return terms


def softmax_loss_value(scores, label: int) -> float:
    """``-log softmax(s)_y``, computed stably as ``logsumexp(s) - s_y``."""
    s = np.asarray(scores, dtype=np.float64)
    m = s.max()
    return float(m + np.log(np.exp(s - m).sum()) - s[label])


def multiclass_svm_loss(scores: torch.Tensor, target: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Mean Weston-Watkins hinge loss of an ``N x K`` score batch (torch, differentiable)."""
    true = scores.gather(1, target[:, None])
    margins = (scores - true + delta).clamp(min=0)
    margins = margins.scatter(1, target[:, None], 0.0)
    return margins.sum(dim=1).mean()


def l2_penalty(weights) -> torch.Tensor:
    """``R(W) = sum w^2`` over the given weight tensors (biases are not regularised)."""
    return sum((w.pow(2).sum() for w in weights), torch.zeros(()))
