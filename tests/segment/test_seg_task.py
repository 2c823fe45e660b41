"""SegmentationTask called directly: loss, sums, evaluation, and a network trained at one size run at another."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnlab import CnnlabError
from cnnlab.data import load_data
from cnnlab.tasks.segment.dataset import SegmentationDataset
from cnnlab.tasks.segment.loader import SegmentationLoader
from cnnlab.tasks.segment.task import SegmentationTask


def cfg(**kw):
    base = {"model": "unet", "model_args": {"backbone": "resnet20"}, "seed": 0, "augment": "", "channels_last": False}
    base.update(kw)
    return SimpleNamespace(**base)


def test_loss_is_the_mean_over_labelled_pixels():
    torch.manual_seed(0)
    out = torch.randn(2, 4, 3, 5)
    target = torch.randint(0, 4, (2, 3, 5))
    target[0, 0] = 255
    loss, sums = SegmentationTask().loss(out, target)
    keep = target != 255
    logp = torch.log_softmax(out, 1).permute(0, 2, 3, 1)[keep]  # one row per labelled pixel
    want = -logp[torch.arange(len(logp)), target[keep]].mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert int(sums["pixels"]) == int(keep.sum()) == 25
    assert int(sums["correct"]) == int(((out.argmax(1) == target) & keep).sum())
    record = SegmentationTask().train_record({k: float(v) for k, v in sums.items()})
    assert record["loss"] == pytest.approx(want.item(), rel=1e-6)
    assert record["pixel_acc"] == pytest.approx(100 * int(sums["correct"]) / 25)


class Oracle(nn.Module):
    """Scores that put the true class first (the image carries the mask in its channel)."""

    def forward(self, x):
        labels = x[:, 0].round().long().clamp(0, 2)
        return F.one_hot(labels, 3).permute(0, 3, 1, 2).float() * 10


def test_evaluate_a_perfect_and_a_constant_model():
    masks = torch.randint(0, 3, (5, 6, 7), dtype=torch.uint8)
    masks[:, 0, 0] = 255
    images = (masks.clamp(max=2)).unsqueeze(1)  # values 0..2 after "normalising" with mean 0, std 1/255
    ds = SegmentationDataset(images, masks, ["a", "b", "c"])
    loader = SegmentationLoader(ds, 2, [0.0], [1 / 255])
    task = SegmentationTask()
    got = task.evaluate(Oracle(), loader, contextlib.nullcontext(), torch.device("cpu"))
    assert got["pixel_acc"] == pytest.approx(100) and got["miou"] == pytest.approx(100) and got["loss"] < 1e-3

    class Zero(nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], 3, *x.shape[-2:])
            out[:, 0] = 1
            return out

    got = task.evaluate(Zero(), loader, contextlib.nullcontext(), torch.device("cpu"))
    labelled = masks != 255
    share = float((masks[labelled] == 0).float().mean())
    # class 0: IoU = its share of the pixels; classes 1 and 2: true but never predicted -> 0
    assert got["pixel_acc"] == pytest.approx(100 * share, rel=1e-6)
    assert got["miou"] == pytest.approx(100 * share / 3, rel=1e-6)


def test_loader_batches_depend_only_on_seed_epoch_and_index():
    from cnnlab.tasks.segment.augment import parse_joint_augment

    data = load_data("seg-sample", val_split=0).train.subset(torch.arange(40))

    def make():
        return SegmentationLoader(
            data,
            8,
            [0.1],
            [0.3],
            shuffle=True,
            drop_last=True,
            seed=3,
            transform=parse_joint_augment("scale=0.8:1.2,crop=4,flip"),
        )

    a, b = make(), make()
    a.set_epoch(2), b.set_epoch(2)
    batches = list(a)
    x3, y3 = next(b.iter_from(3))
    assert torch.equal(batches[3][0], x3) and torch.equal(batches[3][1], y3)
    assert y3.dtype == torch.long and y3.shape == (8, 64, 64) and x3.shape == (8, 1, 64, 64)


def test_build_model_refuses_a_classifier():
    data = SimpleNamespace(name="seg-sample", classes=["a", "b"], palette=None)
    with pytest.raises(CnnlabError, match="classifier"):
        SegmentationTask().build_model(cfg(model="resnet18", model_args={}), data, 1)
    model = SegmentationTask().build_model(cfg(), data, 1)
    assert model.num_classes == 2 and model.in_chans == 1


def test_trained_at_one_size_runs_at_another():
    """Lecture 000: a network without fully connected layers trained on small images runs on larger ones.
    An FCN-8s trained a few steps on 32 x 32 canvases segments 64 x 64 ones of the same kind (the test
    split at full size), with a lower loss than before training."""
    torch.manual_seed(0)
    data = load_data("seg-sample", val_split=0)
    small = load_data("seg-sample", val_split=0, image_size=32)  # the same canvases at half the size
    task = SegmentationTask()
    model = task.build_model(cfg(model="fcn8s", model_args={"backbone": "mobilenet_v3_small"}), data, 1)
    mean, std = data.mean, data.std
    train = SegmentationLoader(small.train.subset(torch.arange(256)), 16, mean, std, shuffle=True, drop_last=True)
    big = SegmentationLoader(data.test.subset(torch.arange(32)), 32, mean, std)
    before = task.evaluate(model, big, contextlib.nullcontext(), torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for x, y in train:
        assert x.shape[-2:] == (32, 32)
        loss, _ = task.loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, _ = next(iter(big))
    with torch.no_grad():
        assert model.eval()(x).shape == (32, 11, 64, 64)
    after = task.evaluate(model, big, contextlib.nullcontext(), torch.device("cpu"))
    assert after["loss"] < 0.7 * before["loss"]
