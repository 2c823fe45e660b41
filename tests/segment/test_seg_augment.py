"""Joint augmentation keeps every label on its pixel (hypothesis property tests)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import CnnlabError
from cnnlab.tasks.segment.augment import joint_scale, joint_shift, parse_joint_augment

CODE = 20  # image value of label k: 10 + 20 k (never 0, so padding is told apart)


def encoded(masks: torch.Tensor, channels: int) -> torch.Tensor:
    """Images whose every channel spells out the mask's label at each pixel."""
    return (10 + CODE * masks.long()).to(torch.uint8).unsqueeze(1).repeat(1, channels, 1, 1)


def check_aligned(images: torch.Tensor, masks: torch.Tensor) -> None:
    labelled = masks != 255
    want = (10 + CODE * masks.long()).float()
    for c in range(images.shape[1]):
        got = images[:, c].float()
        assert torch.equal(got[labelled], want[labelled]), "a label moved away from its pixel"
        assert (got[~labelled] == 0).all(), "an ignored pixel holds image content"


masks_strategy = st.builds(
    lambda n, h, w, k, seed: torch.randint(0, k, (n, h, w), generator=torch.Generator().manual_seed(seed)).to(
        torch.uint8
    ),
    st.integers(1, 4),
    st.integers(1, 24),
    st.integers(1, 24),
    st.integers(1, 11),
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None)
@given(
    masks_strategy,
    st.sampled_from(["scale=0.5:2,crop=5,flip", "crop=3,flip=1", "scale=1.3:1.3", "flip"]),
    st.integers(0, 2**31 - 1),
    st.sampled_from([1, 3]),
)
def test_every_label_stays_on_its_pixel(masks, spec, seed, channels):
    """Nearest-neighbour resampling of the image (only in this test) makes alignment exact: every labelled
    pixel still shows its label's code, every pixel from outside is ignored (255) and black."""
    aug = parse_joint_augment(spec, image_mode="nearest")
    images, out_masks = aug(encoded(masks, channels), masks, torch.Generator().manual_seed(seed))
    assert images.shape == (masks.shape[0], channels, *masks.shape[1:]) and out_masks.shape == masks.shape
    assert out_masks.dtype == torch.uint8
    check_aligned(images, out_masks)


@settings(max_examples=40, deadline=None)
@given(masks_strategy, st.integers(0, 2**31 - 1))
def test_integer_shifts_and_flips_are_exact_with_the_default_resampling(masks, seed):
    aug = parse_joint_augment("crop=4,flip")
    images, out_masks = aug(encoded(masks, 3), masks, torch.Generator().manual_seed(seed))
    check_aligned(images, out_masks)


def test_bilinear_scaling_blends_images_but_never_labels():
    masks = torch.zeros(1, 16, 16, dtype=torch.uint8)
    masks[:, 4:12, 4:12] = 3
    images, out = joint_scale(encoded(masks, 1), masks, torch.tensor([1.7]), torch.zeros(1, 2))
    assert set(torch.unique(out).tolist()) <= {0, 3}  # no in-between label
    # an image pixel labelled 3 whose 3x3 neighbourhood is all 3 shows exactly label 3's code
    inner = -torch.nn.functional.max_pool2d(-(out == 3).float().unsqueeze(1), 3, 1, 1).squeeze(1) == 1
    assert inner.any() and torch.allclose(images[:, 0][inner], torch.tensor(10.0 + 3 * CODE))


def test_zoom_in_by_two_about_the_centre_by_hand():
    masks = torch.arange(16, dtype=torch.uint8).view(1, 4, 4)
    _, out = joint_scale(encoded(masks, 1), masks, torch.tensor([2.0]), torch.zeros(1, 2), "nearest")
    # the centre 2 x 2 of the mask, each label now covering 2 x 2 pixels
    assert out[0].tolist() == [[5, 5, 6, 6], [5, 5, 6, 6], [9, 9, 10, 10], [9, 9, 10, 10]]


def test_shift_pads_masks_with_ignore():
    masks = torch.ones(1, 3, 3, dtype=torch.uint8)
    _, out = joint_shift(encoded(masks, 1), masks, torch.tensor([1]), torch.tensor([-1]))
    assert out[0].tolist() == [[255, 1, 1], [255, 1, 1], [255, 255, 255]]


def test_same_generator_same_batch():
    masks = torch.randint(0, 5, (4, 12, 12), dtype=torch.uint8)
    aug = parse_joint_augment("scale=0.8:1.2,crop=2,flip")
    a = aug(encoded(masks, 1), masks, torch.Generator().manual_seed(3))
    b = aug(encoded(masks, 1), masks, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize(
    "spec, match",
    [
        ("rrc=0.3", "unknown segmentation augmentation"),
        ("scale=2:1", "LO:HI"),
        ("crop=x", "not a number"),
        ("flip,flip", "twice"),
    ],
)
def test_bad_specs(spec, match):
    with pytest.raises(CnnlabError, match=match):
        parse_joint_augment(spec)
    assert parse_joint_augment("none") is None and parse_joint_augment("") is None
