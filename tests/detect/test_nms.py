"""Our batched, class-aware NMS against a greedy reference written here (plain Python floats, one
pass per class), on random boxes from hypothesis."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.tasks.detect.boxes import giou, pairwise_iou
from cnnlab.tasks.detect.nms import batched_nms, nms


def iou_ref(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = w * h if w > 0 and h > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def greedy_reference(boxes, scores, classes, thr):
    """Per class: sort by score (ties: lower index first), keep, drop overlaps > thr, repeat."""
    kept = []
    for c in sorted(set(classes)):
        idx = sorted((i for i in range(len(boxes)) if classes[i] == c), key=lambda i: (-scores[i], i))
        while idx:
            best = idx.pop(0)
            kept.append(best)
            idx = [i for i in idx if iou_ref(boxes[best], boxes[i]) <= thr]
    return sorted(kept)


# coordinates on a 1/8-pixel grid: exact in binary, so the offset trick's shift changes no IoU
coord = st.integers(0, 800).map(lambda v: v / 8)
box = st.tuples(coord, coord, st.integers(1, 400).map(lambda v: v / 8), st.integers(1, 400).map(lambda v: v / 8)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(box, st.integers(0, 20).map(lambda s: s / 20), st.integers(0, 3)), max_size=40),
    st.sampled_from([0.0, 0.3, 0.5, 0.7]),
)
def test_batched_nms_matches_greedy_reference(items, thr):
    boxes = [b for b, _, _ in items]
    scores = [s for _, s, _ in items]
    classes = [c for _, _, c in items]
    got = batched_nms(
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(scores),
        torch.tensor(classes, dtype=torch.long),
        thr,
    )
    assert sorted(got.tolist()) == greedy_reference(boxes, scores, classes, thr)
    assert all(scores[a] >= scores[b] for a, b in zip(got.tolist(), got.tolist()[1:]))  # by score


def test_nms_hand_case():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]  # 0 and 1 overlap box 3 (IoU 1 and 9/11)
    # class-aware: box 1 of another class survives
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 0]), 0.5).tolist() == [3, 1, 2]
    assert nms(boxes[:0], scores[:0], 0.5).numel() == 0


def test_iou_and_giou_by_hand():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3]])
    assert pairwise_iou(a, b).item() == torch.tensor(1 / 7).item()
    # hull 3x3 = 9, union 7: GIoU = 1/7 - 2/9
    assert abs(giou(a, b).item() - (1 / 7 - 2 / 9)) < 1e-6
    far = torch.tensor([[4.0, 0, 6, 2]])
    assert abs(giou(a, far).item() - (0 - (12 - 8) / 12)) < 1e-6
