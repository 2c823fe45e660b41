"""Pixel accuracy, per-class IoU and mean IoU against counts written out in the test."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import CnnlabError
from cnnlab.tasks.segment.metrics import (
    confusion_matrix,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    summarize,
)


def test_hand_counted_example():
    # 3 classes; class 2 appears nowhere (neither true nor predicted): excluded from the mean
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 2 - 2]])  # the last pixel is ignored whatever is predicted
    cm = confusion_matrix(pred, target, 3)
    assert cm.tolist() == [[3, 1, 0], [1, 2, 0], [0, 0, 0]]
    # class 0: TP 3, FP 1 (a true 1 predicted 0), FN 1 -> 3/5; class 1: TP 2, FP 1, FN 1 -> 2/4
    assert iou_per_class(cm) == [pytest.approx(3 / 5), pytest.approx(2 / 4), None]
    assert mean_iou(cm) == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert pixel_accuracy(cm) == pytest.approx(5 / 7)
    assert summarize(cm) == {"pixel_acc": pytest.approx(500 / 7), "miou": pytest.approx(55.0)}


def test_a_class_predicted_but_never_true_counts_as_zero():
    cm = confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    assert iou_per_class(cm) == [pytest.approx(0.5), None, 0.0]
    assert mean_iou(cm) == pytest.approx(0.25)


def test_labels_out_of_range_are_an_error():
    with pytest.raises(CnnlabError, match="label 7"):
        confusion_matrix(torch.tensor([0]), torch.tensor([7]), 3)


def test_nothing_labelled_gives_nan():
    cm = confusion_matrix(torch.tensor([1, 1]), torch.tensor([255, 255]), 2)
    assert math.isnan(mean_iou(cm)) and math.isnan(pixel_accuracy(cm))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(1, 60), st.integers(0, 2**31 - 1))
def test_against_an_independent_count(k, n, seed):
    """IoU by counting sets of pixel positions (intersection / union), one class at a time."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, k, n)
    target[rng.random(n) < 0.2] = 255
    pred = rng.integers(0, k, n)
    cm = confusion_matrix(torch.from_numpy(pred), torch.from_numpy(target), k)
    labelled = {i for i in range(n) if target[i] != 255}
    ious = []
    for c in range(k):
        truth = {i for i in labelled if target[i] == c}
        guess = {i for i in labelled if pred[i] == c}
        union = truth | guess
        want = len(truth & guess) / len(union) if union else None
        got = iou_per_class(cm)[c]
        assert (got is None) == (want is None) and (want is None or got == pytest.approx(want))
        if want is not None:
            ious.append(want)
    assert mean_iou(cm) == pytest.approx(sum(ious) / len(ious)) if ious else math.isnan(mean_iou(cm))
    correct = sum(pred[i] == target[i] for i in labelled)
    assert pixel_accuracy(cm) == pytest.approx(correct / len(labelled)) if labelled else True
