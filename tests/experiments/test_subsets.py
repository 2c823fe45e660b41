"""Experiment data subsets: counts per class, relabelled classes, nesting, independence of the training seed."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import DataSplits, ImageDataset
from cnnlab.experiments.spec import Subset
from cnnlab.experiments.subsets import apply_subset


def splits(n_per_class=(30, 20, 10), val=5) -> DataSplits:
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(n_per_class)])
    images = torch.arange(len(labels), dtype=torch.int64).remainder(256).to(torch.uint8).view(-1, 1, 1, 1)
    images = images.expand(-1, 1, 2, 2).contiguous()
    vlabels = torch.arange(len(n_per_class)).repeat_interleave(val)
    classes = [f"c{k}" for k in range(len(n_per_class))]
    return DataSplits(
        "toy",
        ImageDataset(images, labels, classes),
        ImageDataset(torch.zeros(len(vlabels), 1, 2, 2, dtype=torch.uint8), vlabels, classes),
    )


def test_per_class_caps_each_class():
    out = apply_subset(splits(), Subset(per_class=15, val_per_class=2))
    assert out.train.class_counts() == [15, 15, 10]
    assert out.val.class_counts() == [2, 2, 2]
    assert "experiment subset" in out.notes[-1]


def test_classes_are_kept_and_relabelled():
    out = apply_subset(splits(), Subset(classes=(2, 0)))
    assert out.classes == ["c2", "c0"]
    assert out.train.class_counts() == [10, 30]
    assert out.val.class_counts() == [5, 5]


def test_fraction_rounds_per_class():
    assert apply_subset(splits(), Subset(fraction=0.1)).train.class_counts() == [3, 2, 1]


@settings(max_examples=20, deadline=None)
@given(small=st.integers(1, 30), extra=st.integers(0, 30))
def test_smaller_subsets_are_nested(small, extra):
    data = splits()
    a = apply_subset(data, Subset(per_class=small)).train.images.flatten(1)[:, 0].tolist()
    b = apply_subset(data, Subset(per_class=small + extra)).train.images.flatten(1)[:, 0].tolist()
    assert set(a) <= set(b)


def test_choice_ignores_the_global_seed():
    torch.manual_seed(1)
    a = apply_subset(splits(), Subset(per_class=7)).train.images
    torch.manual_seed(2)
    b = apply_subset(splits(), Subset(per_class=7)).train.images
    assert torch.equal(a, b)
