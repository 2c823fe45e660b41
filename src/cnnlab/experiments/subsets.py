"""Data subsets of an experiment's configurations (fewer classes, fewer images per class, a fraction).

The choice depends only on the labels and a fixed seed, never on the training seed: every
configuration and every seed of an experiment sees the same images, so differences between
configurations are not differences of data.
"""

from __future__ import annotations

import dataclasses

import torch

from ..data import DataSplits
from ..data.dataset import ImageDataset
from ..errors import CnnlabError
from .spec import Subset

SUBSET_SEED = 1234


def _keep_classes(data: ImageDataset, classes: tuple[int, ...]) -> ImageDataset:
    remap = torch.full((len(data.classes),), -1, dtype=torch.long)
    for new, old in enumerate(classes):
        remap[old] = new
    keep = torch.nonzero(remap[data.labels] >= 0).flatten()
    return ImageDataset(data.images[keep], remap[data.labels[keep]], [data.classes[k] for k in classes])


def _per_class(data: ImageDataset, count=None, fraction=None, seed: int = SUBSET_SEED) -> ImageDataset:
    """The first ``count`` (or ``fraction``) images of every class in a seeded permutation; original order kept.

    Nested: a smaller count is a subset of a larger one (10 per class are among the 100 per class)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data), generator=g)
    keep = torch.zeros(len(data), dtype=torch.bool)
    labels = data.labels[perm]
    for k in range(len(data.classes)):
        idx = perm[labels == k]
        n = len(idx) if count is None else min(count, len(idx))
        if fraction is not None:
            n = max(1, round(fraction * n))
        keep[idx[:n]] = True
    return data.subset(torch.nonzero(keep).flatten())


def apply_subset(data: DataSplits, subset: Subset) -> DataSplits:
    """``data`` cut down to ``subset`` (statistics recomputed from the new training split)."""
    if subset == Subset():
        return data
    train, val = data.train, data.val
    extra = {}
    if subset.classes is not None:
        bad = [k for k in subset.classes if not 0 <= k < len(data.classes)]
        if bad:
            raise CnnlabError(
                f"subset classes {bad} do not exist in {data.name} ({len(data.classes)} classes)",
                "the experiment is written for another data set: check --data",
            )
        train, val = _keep_classes(train, subset.classes), _keep_classes(val, subset.classes)
        if data.has_test:  # the official test split, kept lazy: read only if the protocol asks for it
            extra["test_reader"] = lambda: _keep_classes(data.test, subset.classes)
    if subset.per_class is not None or subset.fraction is not None:
        train = _per_class(train, subset.per_class, subset.fraction)
    if subset.val_per_class is not None:
        val = _per_class(val, subset.val_per_class)
    notes = list(data.notes) + [f"experiment subset: {subset.describe()}"]
    return dataclasses.replace(data, train=train, val=val, mean=[], std=[], notes=notes, **extra)
