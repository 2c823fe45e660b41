"""AUROC against scikit-learn (ties included), PRO on a hand-built case, connected components."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from cnnlab.errors import CnnlabError
from cnnlab.tasks.anomaly.metrics import auroc, label_regions, normal_threshold, pro_auc, pro_curve


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=60))
def test_auroc_matches_sklearn_with_ties(pairs):
    scores = np.array([s for s, _ in pairs], float)  # few distinct values: many ties
    labels = np.array([y for _, y in pairs])
    if labels.all() or not labels.any():
        with pytest.raises(CnnlabError):
            auroc(scores, labels)
        return
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auroc_hand_count():
    # pairs (anomalous, normal): 3 > 1, 3 > 2, 2 = 2 (half), 2 > 1 -> 3.5 of 4
    assert auroc([3, 2, 2, 1], [1, 1, 0, 0]) == 0.875


def test_label_regions_eight_connected():
    m = np.zeros((6, 7), bool)
    m[0, 0] = m[1, 1] = m[2, 2] = True  # a diagonal: one 8-connected region
    m[0, 5:7] = True
    m[4:6, 0:3] = True
    m[5, 6] = True
    lab, k = label_regions(m)
    assert k == 4
    assert len({lab[0, 0], lab[1, 1], lab[2, 2]}) == 1
    assert (lab > 0).sum() == m.sum() and (lab[~m] == 0).all()
    snake = np.zeros((9, 9), bool)  # a long winding region, one component
    snake[0, :] = snake[:, 8] = snake[8, :] = snake[2:, 0] = snake[2, :7] = True
    assert label_regions(snake)[1] == 1


def test_pro_hand_built():
    # one 1x4 image pair: image 0 has region A (2 px), image 1 region B (1 px); 3 normal pixels
    maps = np.array([[[0.9, 0.4, 0.8, 0.1]], [[0.7, 0.2, 0.3, 0.6]]])
    masks = np.array([[[1, 1, 0, 0]], [[0, 0, 0, 1]]], bool)
    # normal pixels scores: 0.8, 0.1, 0.7, 0.2, 0.3 (5 normal)
    fpr, pro = pro_curve(maps, masks)
    # thresholds descending: 0.9 (A 1/2 -> pro 0.25, fpr 0), 0.8 (fpr .2), 0.7 (fpr .4), 0.6 (B -> pro .75),
    # 0.4 (A full -> 1.0), 0.3 (.6), 0.2 (.8), 0.1 (1.0)
    np.testing.assert_allclose(fpr, [0, 0, 0.2, 0.4, 0.4, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(pro, [0, 0.25, 0.25, 0.25, 0.75, 1.0, 1.0, 1.0, 1.0])
    # area up to FPR 0.3: 0..0.2 at 0.25 after the jump at 0 -> 0.05; 0.2..0.3 at 0.25 -> 0.025; / 0.3
    assert pro_auc(maps, masks, 0.3) == pytest.approx(0.075 / 0.3)
    # a perfect map reaches PRO 1 at FPR 0
    assert pro_auc(masks.astype(float), masks, 0.3) == pytest.approx(1.0)


def test_threshold_quantile():
    assert normal_threshold([1, 2, 3, 4, 5], 1.0) == 5
    assert normal_threshold(np.arange(101), 0.99) == pytest.approx(99)
    with pytest.raises(CnnlabError):
        normal_threshold([], 0.9)
