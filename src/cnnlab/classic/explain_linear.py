"""A linear classifier's scores and losses step by step (lecture 004, "Linear Classifier", "Linear Classification").

The lecture's example (cs231n's): a 4-pixel image ``x = (56, 231, 24, 2)``, weights ``W`` (3 x 4, rows
cat / dog / ship) and bias ``b = (1.1, 3.2, -1.2)``; ``f = W x + b``. The slide prints the ship score as
61.95; ``0x56 + 0.25x231 + 0.2x24 + (-0.3)x2 + (-1.2) = 60.75`` (docs/architecture.md, lecture errata).
The image is a cat, so the losses are those of label 0: multiclass SVM with ``Delta = 1`` and softmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import CnnlabError
from .losses import softmax_loss_value, svm_loss_terms

LECTURE_W = [[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0.0, 0.25, 0.2, -0.3]]
LECTURE_X = [56.0, 231.0, 24.0, 2.0]
LECTURE_B = [1.1, 3.2, -1.2]
LECTURE_CLASSES = ["cat", "dog", "ship"]


@dataclass
class LinearExplanation:
    w: np.ndarray
    x: np.ndarray
    b: np.ndarray
    classes: list[str]
    label: int
    delta: float
    reg: float = 0.0
    scores: np.ndarray = field(init=False)

    def __post_init__(self):
        self.scores = self.w @ self.x + self.b

    @property
    def svm_terms(self) -> np.ndarray:
        return svm_loss_terms(self.scores, self.label, self.delta)

    @property
    def svm_loss(self) -> float:
        return float(self.svm_terms.sum())

    @property
    def softmax_probs(self) -> np.ndarray:
        e = np.exp(self.scores - self.scores.max())
        return e / e.sum()

    @property
    def softmax_loss(self) -> float:
        return softmax_loss_value(self.scores, self.label)

    @property
    def l2(self) -> float:
        return float((self.w**2).sum())

    def to_dict(self) -> dict:
        return {
            "W": self.w.tolist(),
            "x": self.x.tolist(),
            "b": self.b.tolist(),
            "classes": self.classes,
            "label": self.label,
            "delta": self.delta,
            "scores": self.scores.tolist(),
            "svm_terms": self.svm_terms.tolist(),
            "svm_loss": self.svm_loss,
            "softmax_probs": self.softmax_probs.tolist(),
            "softmax_loss": self.softmax_loss,
            "l2": self.l2,
            "reg": self.reg,
            "total_svm": self.svm_loss + self.reg * self.l2,
            "total_softmax": self.softmax_loss + self.reg * self.l2,
        }


def explain_linear(
    w=None, x=None, b=None, classes=None, label: int | str = 0, delta: float = 1.0, reg: float = 0.0
) -> LinearExplanation:
    """Scores ``W x + b`` and the SVM and softmax losses for ``label``; defaults: the lecture's example."""
    w = np.asarray(LECTURE_W if w is None else w, dtype=np.float64)
    x = np.asarray(LECTURE_X if x is None else x, dtype=np.float64).reshape(-1)
    b = np.asarray(LECTURE_B if b is None else b, dtype=np.float64).reshape(-1)
    if w.ndim != 2 or w.shape[1] != x.size:
        raise CnnlabError(
            f"W must be K x D with D = {x.size} (the pixels of x), got shape {w.shape}",
            "write W with one row per class, one column per pixel",
        )
    if b.size != w.shape[0]:
        raise CnnlabError(f"b has {b.size} values but W has {w.shape[0]} rows (classes)")
    k = w.shape[0]
    classes = list(classes) if classes else (LECTURE_CLASSES if k == 3 else [f"class {i}" for i in range(k)])
    if len(classes) != k:
        raise CnnlabError(f"{len(classes)} class names for {k} classes")
    if isinstance(label, str) and not label.isdigit():
        if label not in classes:
            from ..errors import UnknownNameError

            raise UnknownNameError("class", label, classes)
        label = classes.index(label)
    label = int(label)
    if not 0 <= label < k:
        raise CnnlabError(f"label {label} is not one of the {k} classes (0..{k - 1})")
    return LinearExplanation(w, x, b, classes, label, float(delta), float(reg))


def _g(v: float) -> str:
    """Up to 8 significant digits, no trailing zeros (437.9, 158.55, -96.8)."""
    return f"{round(float(v), 8):.8g}"


def _term(v: float) -> str:
    t = _g(v)
    return f"({t})" if v < 0 else t


def render_linear(e: LinearExplanation) -> str:
    lines = ["scores f(x) = W x + b (one row of W per class, the image stretched into a column)", ""]
    for i, name in enumerate(e.classes):
        prods = " + ".join(f"{_term(wv)}x{_term(xv)}" for wv, xv in zip(e.w[i], e.x, strict=True))
        lines.append(f"  {name + ' score':<12} = {prods} + {_term(e.b[i])} = {_g(e.scores[i])}")
    if (
        e.w.shape == (3, 4)
        and np.allclose(e.w, LECTURE_W)
        and np.allclose(e.x, LECTURE_X)
        and np.allclose(e.b, LECTURE_B)
    ):
        lines.append("  (lecture 004 prints the ship score as 61.95; the sum is 60.75)")
    y, sy = e.classes[e.label], e.scores[e.label]
    lines += [
        "",
        f"true class: {y} (s_y = {_g(sy)})",
        "",
        f"multiclass SVM loss, L_i = sum over j != y of max(0, s_j - s_y + {_g(e.delta)}):",
    ]
    parts = []
    for j, name in enumerate(e.classes):
        if j == e.label:
            continue
        t = e.svm_terms[j]
        lines.append(f"  {name:<6} max(0, {_g(e.scores[j])} - {_term(sy)} + {_g(e.delta)}) = {_g(t)}")
        parts.append(_g(t))
    lines.append(f"  L_i = {' + '.join(parts)} = {_g(e.svm_loss)}")
    lines += ["", "softmax loss, L_i = -log(e^{s_y} / sum_j e^{s_j}) = log(sum_j e^{s_j}) - s_y:"]
    lines.append(
        "  probabilities " + ", ".join(f"{n} {p:.4g}" for n, p in zip(e.classes, e.softmax_probs, strict=True))
    )
    lines.append(f"  L_i = -log({e.softmax_probs[e.label]:.4g}) = {e.softmax_loss:.6g}")
    lines += ["", f"L2 regularisation R(W) = sum of w^2 = {e.l2:.6g}"]
    if e.reg:
        lines.append(
            f"  with lambda = {_g(e.reg)}: SVM {e.svm_loss + e.reg * e.l2:.6g}, softmax "
            f"{e.softmax_loss + e.reg * e.l2:.6g} (L = 1/N sum L_i + lambda R(W), N = 1)"
        )
    return "\n".join(lines)
