"""In-memory datasets: exact channel statistics, the stratified split, resizing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import ImageDataset, channel_stats, resize_images, stratified_split


def test_channel_stats_equal_the_float64_formula_at_any_chunking():
    x = torch.randint(0, 256, (37, 3, 5, 6), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    f = x.double() / 255
    want_mean = f.mean((0, 2, 3))
    want_std = f.std((0, 2, 3), unbiased=False)
    for chunk in (None, 1, 10, 100):
        mean, std = channel_stats(x, chunk=chunk)
        assert torch.allclose(torch.tensor(mean, dtype=torch.float64), want_mean, atol=1e-12)
        assert torch.allclose(torch.tensor(std, dtype=torch.float64), want_std, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 30), min_size=2, max_size=6),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 1000),
)
def test_stratified_split_is_a_seeded_partition_per_class(counts, fraction, seed):
    labels = torch.cat([torch.full((n,), k) for k, n in enumerate(counts)])
    ids = torch.arange(len(labels), dtype=torch.uint8)  # at most 180 images: each has its own pixel value
    data = ImageDataset(
        ids.view(-1, 1, 1, 1).expand(-1, 1, 2, 2).contiguous(), labels, [str(k) for k in range(len(counts))]
    )
    train, val = stratified_split(data, fraction, seed)
    assert len(train) + len(val) == len(data)
    ids = torch.cat([train.images[:, 0, 0, 0], val.images[:, 0, 0, 0]]).sort().values
    assert torch.equal(ids, data.images[:, 0, 0, 0].sort().values)  # disjoint and complete
    for k, n in enumerate(counts):
        held = int((val.labels == k).sum())
        if n >= 2:  # round(fraction n), at least 1, never the whole class
            assert held == min(max(round(fraction * n), 1), n - 1)
        else:
            assert held == 0
    again = stratified_split(data, fraction, seed)[1]
    assert torch.equal(again.images, val.images)


def test_resize_images_is_torch_antialiased_bilinear_rounded():
    x = torch.randint(0, 256, (3, 2, 20, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    want = F.interpolate(x.float(), size=(7, 7), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(resize_images(x, 7, chunk=2), want.round().clamp(0, 255).to(torch.uint8))
