"""The evaluation metrics against hand counts and the formulas written out here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.evaluation import metrics as M


def test_confusion_precision_recall_f1_by_hand():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    preds = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    cm = M.confusion_matrix(np.array(labels), np.array(preds), 4)
    # row = true, column = predicted, counted by hand
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    pc = M.per_class_scores(cm)
    # class 0: predicted 3 times, 2 right; 3 true images, 2 found
    assert pc.precision.tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4, 0.0])
    assert pc.recall.tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4, 0.0])
    assert pc.f1[2] == pytest.approx(2 * 0.75 * 0.75 / 1.5)
    assert pc.support.tolist() == [3, 2, 4, 0]
    means = pc.means()
    assert means["macro"]["recall"] == pytest.approx((2 / 3 + 1 / 2 + 3 / 4 + 0) / 4)
    assert means["weighted"]["recall"] == pytest.approx(6 / 9)  # weighted recall = accuracy
    assert M.row_normalised(cm)[2].tolist() == pytest.approx([0.25, 0, 0.75, 0])
    assert M.row_normalised(cm)[3].tolist() == [0, 0, 0, 0]  # no image of class 3: no division by zero


def ece_by_formula(conf, correct, bins=15):
    """Guo et al. 2017: bins ((m-1)/M, m/M]; sum over bins of |B|/n * |acc(B) - conf(B)|."""
    n = len(conf)
    total = 0.0
    for m in range(1, bins + 1):
        lo, hi = (m - 1) / bins, m / bins
        members = [i for i in range(n) if (lo < conf[i] <= hi) or (m == 1 and conf[i] == 0)]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            avg = sum(conf[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - avg)
    return total


def test_ece_matches_the_formula_and_a_hand_example():
    # two images at confidence 0.9 (one right), one at 0.3 (right): bins 14 and 5
    conf, correct = np.array([0.9, 0.9, 0.3]), np.array([1, 0, 1])
    rel = M.reliability(conf, correct)
    assert rel.ece == pytest.approx(2 / 3 * abs(0.5 - 0.9) + 1 / 3 * abs(1 - 0.3))
    assert rel.count.sum() == 3 and rel.count[13] == 2 and rel.count[4] == 1
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7) * 0.4, size=500)
    labels = rng.integers(0, 7, 500)
    expect = ece_by_formula(probs.max(1).tolist(), (probs.argmax(1) == labels).astype(int).tolist())
    assert M.expected_calibration_error(probs, labels) == pytest.approx(expect, abs=1e-12)


def test_bin_edges_are_right_closed():
    rel = M.reliability(np.array([1 / 15, 2 / 15 + 1e-9, 1.0]), np.array([1, 1, 1]))
    assert rel.count[0] == 1 and rel.count[2] == 1 and rel.count[14] == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=60))
def test_confusion_counts_every_pair_once(pairs):
    labels, preds = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    cm = M.confusion_matrix(labels, preds, 6)
    for t in range(6):
        for p in range(6):
            assert cm[t, p] == sum(1 for a, b in pairs if a == t and b == p)
    pc = M.per_class_scores(cm)
    assert pc.means()["weighted"]["recall"] == pytest.approx(float((labels == preds).mean()))


def test_topk_accuracy():
    probs = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    assert M.topk_accuracy(probs, np.array([2, 2]), 1) == 0.0
    assert M.topk_accuracy(probs, np.array([2, 2]), 2) == 0.5
    assert M.topk_accuracy(probs, np.array([2, 2]), 5) == 1.0
