"""Box-aware augmentation keeps boxes consistent with the transformed image (hypothesis).

Each box is painted into its own channel of a blank image (255 inside, 0 outside); after a
transform, the painted pixels of every kept box must fill exactly (flip, crop: integer geometry)
or within 1.5 pixels (resizing: the interpolation filter blurs the edges) the transformed box, and every dropped
box must have lost more than the allowed share of its area.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.tasks.detect.augment import BoxAugment, crop, hflip, resize
from cnnlab.tasks.detect.dataset import make_target


@st.composite
def painted(draw, max_boxes=4):
    h, w = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    k = draw(st.integers(1, max_boxes))
    boxes = []
    for _ in range(k):
        x0, y0 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
        boxes.append([x0, y0, draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h))])
    boxes = torch.tensor(boxes, dtype=torch.float32)
    image = torch.zeros(k, h, w, dtype=torch.uint8)
    for i, (x0, y0, x1, y1) in enumerate(boxes.long().tolist()):
        image[i, y0:y1, x0:x1] = 255
    return image, boxes


def extent(channel: torch.Tensor, level: int = 128) -> list[int] | None:
    ys, xs = torch.nonzero(channel >= level, as_tuple=True)
    if len(ys) == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@settings(max_examples=80, deadline=None)
@given(painted())
def test_flip_moves_boxes_with_the_pixels(case):
    image, boxes = case
    out, moved = hflip(image, boxes)
    for i in range(len(boxes)):
        assert extent(out[i]) == moved[i].long().tolist()
    assert torch.equal(hflip(*hflip(image, boxes))[1], boxes)  # twice: the identity


@settings(max_examples=120, deadline=None)
@given(
    painted(),
    st.integers(-20, 40),
    st.integers(-20, 40),
    st.integers(4, 56),
    st.integers(4, 56),
    st.sampled_from([0.0, 0.3, 0.5, 1.0]),
)
def test_crop_keeps_or_drops_boxes_correctly(case, top, left, height, width, min_visible):
    image, boxes = case
    out, clipped, keep = crop(image, boxes, top, left, height, width, min_visible)
    assert out.shape == (len(boxes), height, width)
    for i in range(len(boxes)):
        visible = int((out[i] > 0).sum())
        full = int((image[i] > 0).sum())
        if keep[i]:
            assert extent(out[i]) == clipped[i].long().tolist()  # the clipped box is exactly what is visible
            assert visible >= min_visible * full and visible > 0
            assert 0 <= clipped[i, 0] < clipped[i, 2] <= width and 0 <= clipped[i, 1] < clipped[i, 3] <= height
        else:
            assert visible < min_visible * full or visible == 0


@settings(max_examples=80, deadline=None)
@given(painted(max_boxes=2), st.floats(0.5, 2.0))
def test_resize_scales_boxes_with_the_pixels(case, factor):
    image, boxes = case
    h, w = image.shape[-2:]
    nh, nw = max(2, round(h * factor)), max(2, round(w * factor))
    out, scaled = resize(image, boxes, nh, nw)
    for i in range(len(boxes)):
        got = extent(out[i])
        x0, y0, x1, y1 = scaled[i].tolist()
        if min(x1 - x0, y1 - y0) < 3:  # a thin box fades below half intensity: its pixels stay inside it
            assert got is None or (
                got[0] >= x0 - 1.5 and got[1] >= y0 - 1.5 and got[2] <= x1 + 1.5 and got[3] <= y1 + 1.5
            )
            continue
        assert max(abs(a - b) for a, b in zip(got, scaled[i].tolist())) <= 1.5  # edges blur by the filter


@settings(max_examples=80, deadline=None)
@given(painted(), st.booleans(), st.floats(0.5, 1.6), st.integers(0, 2**31 - 1))
def test_augment_pipeline_keeps_labels_and_boxes_in_step(case, flip, hi, seed):
    image, boxes = case
    k = len(boxes)
    target = make_target(boxes, torch.arange(k), area=torch.arange(k) + 100.0)
    aug = BoxAugment(flip=flip, scale=(min(0.5, hi), hi), min_visible=0.5)
    out, t = aug(image, target, torch.Generator().manual_seed(seed))
    assert out.shape == image.shape
    assert len(t["boxes"]) == len(t["labels"]) == len(t["iscrowd"]) == len(t["area"])
    for box, label, a in zip(t["boxes"], t["labels"].tolist(), t["area"].tolist()):
        assert a == label + 100  # per-box entries stay with their box
        h, w = image.shape[-2:]
        assert 0 <= box[0] < box[2] <= w and 0 <= box[1] < box[3] <= h
        got = extent(out[label])
        x0, y0, x1, y1 = box.tolist()
        if min(x1 - x0, y1 - y0) < 3:  # thin: faded below half intensity, but inside its box
            assert got is None or (
                got[0] >= x0 - 1.5 and got[1] >= y0 - 1.5 and got[2] <= x1 + 1.5 and got[3] <= y1 + 1.5
            )
        else:
            assert max(abs(x - y) for x, y in zip(got, box.tolist())) <= 1.5  # interpolation blurs edges


def test_parse_and_errors():
    aug = BoxAugment.parse("flip, scale=0.75-1.25,min_visible=0.3")
    assert aug.flip and aug.scale == (0.75, 1.25) and aug.min_visible == 0.3
    assert not BoxAugment.parse("")
    import pytest

    from cnnlab import CnnlabError

    with pytest.raises(CnnlabError, match="crop=4"):
        BoxAugment.parse("crop=4")
