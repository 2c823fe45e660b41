"""FCOS: targets assigned by hand, the loss's formulas, decoding and NMS of the head's outputs, and
a tiny detector (trained through DetectionTask in a hand-written loop) overfitting four images."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from cnnlab import CnnlabError, create_model, model_card
from cnnlab.tasks.detect.assign import assign, centerness
from cnnlab.tasks.detect.dataset import make_target
from cnnlab.tasks.detect.loss import focal_loss
from cnnlab.tasks.detect.model import level_points
from cnnlab.tasks.detect.sample import read_det_sample
from cnnlab.tasks.detect.task import DetectionTask


@pytest.fixture
def one_thread():
    """Two threads on a shared, busy machine wait for each other on every small op."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_points_are_cell_centres():
    points, strides, levels = level_points([(2, 3), (1, 2)], [8, 16])
    assert points.tolist()[:4] == [[4, 4], [12, 4], [20, 4], [4, 12]]
    assert points.tolist()[6:] == [[8, 8], [24, 8]]
    assert strides.tolist() == [8] * 6 + [16] * 2 and levels.tolist() == [0] * 6 + [1] * 2


def test_assignment_by_hand():
    """A 40 x 40 box at (10, 10) on a 64 x 64 image, strides 8 and 16, ranges (0, 32] and (32, inf).
    Stride-8 centres inside the box with max(l, t, r, b) <= 32 and within 1.5 x 8 = 12 px of the
    centre (30, 30): x, y in {20, 28, 36}; but max distance at (20, 20) is 30 (ok), at (36, 36) 26...
    the rule in code must agree with this loop written out here."""
    points, strides, levels = level_points([(8, 8), (4, 4)], [8, 16])
    target = make_target([[10, 10, 50, 50], [0, 0, 64, 64]], [3, 5], iscrowd=[False, True])
    cls, reg = assign(points, strides, levels, [(0, 32), (32, math.inf)], target, radius=1.5)
    expected = []
    for (x, y), s, lv in zip(points.tolist(), strides.tolist(), levels.tolist()):
        left, top, right, bottom = x - 10, y - 10, 50 - x, 50 - y
        inside = min(left, top, right, bottom) > 0 and abs(x - 30) < 1.5 * s and abs(y - 30) < 1.5 * s
        lo, hi = [(0, 32), (32, math.inf)][lv]
        expected.append(3 if inside and lo < max(left, top, right, bottom) <= hi else -1)
    assert cls.tolist() == expected  # the crowd box is never a target
    assert 0 < sum(c == 3 for c in expected) < len(expected)
    i = expected.index(3)
    x, y = points[i].tolist()
    assert reg[i].tolist() == [x - 10, y - 10, 50 - x, 50 - y]
    assert reg[cls < 0].abs().sum() == 0


def test_ambiguous_location_takes_the_smaller_box():
    points, strides, levels = level_points([(4, 4)], [8])
    target = make_target([[0, 0, 32, 32], [8, 8, 24, 24]], [1, 2])
    cls, _ = assign(points, strides, levels, [(0, math.inf)], target, radius=0)
    p = points.tolist().index([12, 12])
    assert cls[p] == 2 and cls[points.tolist().index([4, 4])] == 1


def test_centerness_and_focal_loss_formulas():
    c = centerness(torch.tensor([[10.0, 20, 30, 20], [5, 5, 5, 5]]))
    assert torch.allclose(c, torch.tensor([math.sqrt(10 / 30 * 1), 1.0]))
    logits = torch.tensor([2.0, -1.0])
    targets = torch.tensor([1.0, 0.0])
    p = torch.sigmoid(logits)
    by_hand = -0.25 * (1 - p[0]) ** 2 * torch.log(p[0]) - 0.75 * p[1] ** 2 * torch.log(1 - p[1])
    assert torch.allclose(focal_loss(logits, targets), by_hand)


def test_postprocess_decodes_and_suppresses():
    model = create_model(
        "fcos", backbone="mobilenet_v1_x0_25", num_classes=3, in_chans=1, channels=16, head_convs=1
    ).eval()
    out = model(torch.zeros(1, 1, 64, 64))
    out["cls"] = torch.full_like(out["cls"], -10.0)
    out["ctr"] = torch.full_like(out["ctr"], 10.0)
    out["box"] = torch.full_like(out["box"], 6.0)
    p = out["points"].tolist().index([20, 20])
    q = out["points"].tolist().index([28, 20])  # the neighbour: IoU of the two 12 x 12 boxes is 4/20 = 0.2
    out["cls"][0, p, 1] = 3.0
    out["cls"][0, q, 1] = 2.0
    out["cls"][0, q, 2] = 1.0  # another class at the same place: not suppressed by class 1
    det = model.postprocess(out)[0]
    assert det["labels"].tolist() == [1, 1, 2]
    assert det["boxes"][0].tolist() == [14, 14, 26, 26]
    model.nms_threshold = 0.1
    assert model.postprocess(out)[0]["labels"].tolist() == [1, 2]


def test_registered_with_a_card_and_a_backbone_argument():
    card = model_card("fcos")
    assert card.task == "detect" and card.year == 2019 and "FCOS" in card.paper
    model = create_model("fcos", backbone="resnet18", num_classes=4, in_chans=3)
    assert model.strides == [8, 16, 32] and [d["reduction"] for d in model.feature_info] == [8, 16, 32]
    with pytest.raises(CnnlabError, match="stride"):
        create_model("fcos", backbone="resnet20", num_classes=4)  # a CIFAR net stops at stride 4
    five = create_model("fcos", backbone="resnet18", num_classes=4, extra_levels=2)
    assert five.strides == [8, 16, 32, 64, 128]
    assert five.size_ranges()[:2] == [(0.0, 64), (64, 128)] and five.size_ranges()[-1][1] == math.inf


def test_tiny_detector_overfits_four_images(one_thread):
    """Through DetectionTask's loader, loss and evaluate, as the trainer calls them."""
    torch.manual_seed(0)
    data = read_det_sample(SimpleNamespace(image_size=64, seed=0, val_split=None))
    few = data.train.subset(range(4))
    task = DetectionTask()
    cfg = SimpleNamespace(
        model="fcos",
        model_args={"backbone": "mobilenet_v1_x0_25", "channels": 32, "head_convs": 1},
        seed=0,
        augment="",
        channels_last=False,
        batch_size=4,
    )
    model = task.build_model(cfg, SimpleNamespace(classes=data.classes), in_chans=1)
    loader = task.train_loader(SimpleNamespace(train=few), cfg, data.mean, data.std, 4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0)
    best = {}
    for step in range(120):
        model.train()
        loader.set_epoch(step)
        sums = {}
        for x, targets in loader.iter_from(0):
            loss, batch = task.loss(model(x), targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sums = {k: sums.get(k, 0) + v for k, v in batch.items()}
        record = task.train_record({k: float(v) for k, v in sums.items()})
        assert set(record) == {"loss", "loss_cls", "loss_box", "loss_ctr"}
        if step >= 40 and step % 10 == 9:
            best = task.evaluate(model, task.eval_loader(few, data.mean, data.std, cfg), None, "cpu")
            if best["ap50"] > 90:
                break
    assert best["ap50"] > 90, best
    assert {"ap", "ap75", "ar100", "loss"} <= set(best)


def test_a_classifier_is_refused():
    cfg = SimpleNamespace(model="resnet18", model_args={})
    with pytest.raises(CnnlabError, match="detector"):
        DetectionTask().build_model(cfg, SimpleNamespace(classes=["a", "b"]), in_chans=3)
