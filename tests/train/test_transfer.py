"""Transfer learning: start from a weight file, replace the head, freeze layers, slow the backbone."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.cli import main
from cnnlab.data import DataSplits, load_data
from cnnlab.errors import CnnlabError
from cnnlab.models import create_model
from cnnlab.runs import read_model_file
from cnnlab.train import TrainConfig, train
from cnnlab.train.optim import build_optimizer
from cnnlab.train.transfer import IMAGENET_MEAN, IMAGENET_STD, apply_freeze, frozen_modules, input_normalization

FAST = dict(precision="fp32", threads=1, progress=False, epochs=1, batch_size=32)


@pytest.fixture(scope="module")
def zeros_and_ones():
    """A two-class task (digits 0 and 1) from the built-in sample: 256 training and 64 validation images."""
    d = load_data("mnist-sample")
    tr = torch.nonzero(d.train.labels <= 1).flatten()[:256]
    va = torch.nonzero(d.val.labels <= 1).flatten()[:64]
    train_split, val_split = d.train.subset(tr), d.val.subset(va)
    train_split.classes = val_split.classes = ["0", "1"]
    return DataSplits("zeros-and-ones", train_split, val_split)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A resnet20 trained briefly on all ten digits, saved as a plain (torchvision-style) state dict."""
    d = load_data("mnist-sample")
    digits = DataSplits("digits", d.train.subset(torch.arange(1024)), d.val.subset(torch.arange(64)))
    folder = tmp_path_factory.mktemp("weights")
    r = train(model="resnet20", dataset=digits, out=str(folder / "run"), lr=0.1, **{**FAST, "epochs": 2})
    path = folder / "resnet20-digits.pth"
    torch.save(r.model.state_dict(), path)
    return path, r.model.state_dict()


def test_backbone_is_everything_off_the_path_to_the_classifier():
    assert frozen_modules(create_model("resnet18"), "backbone") == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
    ]
    assert frozen_modules(create_model("vgg11"), "backbone")[-2:] == ["classifier.4", "classifier.5"]
    vit = create_model("vit_ti_16", num_classes=3)
    assert frozen_modules(vit, "backbone") == ["conv_proj", "encoder"]
    apply_freeze(vit, "backbone")  # the class token, held by the root module, is frozen too
    assert [n for n, p in vit.named_parameters() if p.requires_grad] == ["heads.head.weight", "heads.head.bias"]
    assert frozen_modules(vit, "none") == []


def test_unknown_module_name_suggests_the_close_one():
    with pytest.raises(CnnlabError, match="no module of that name") as e:
        frozen_modules(create_model("resnet18"), "layer1,layr2")
    assert "layer2" in e.value.hint


def test_linear_probe_keeps_the_backbone_and_its_batch_norm_statistics(zeros_and_ones, pretrained, tmp_path):
    path, sd = pretrained
    r = train(
        model="resnet20",
        dataset=zeros_and_ones,
        init_weights=str(path),
        freeze="backbone",
        lr=0.05,
        out=str(tmp_path / "probe"),
        **FAST,
    )
    after = r.model.state_dict()
    backbone = [k for k in sd if not k.startswith("fc.")]
    assert all(torch.equal(after[k], sd[k]) for k in backbone), "a frozen tensor changed"
    assert after["fc.weight"].shape == (2, 64)  # the 10-class head was replaced
    assert r.final["val_top1"] >= 90.0  # the digit features separate 0 from 1 linearly
    cfg = json.loads((tmp_path / "probe" / "config.json").read_text())
    # a .pth file: ImageNet statistics (averaged over RGB for the grey input)
    assert cfg["resolved"]["mean"] == pytest.approx([sum(IMAGENET_MEAN) / 3])
    assert cfg["resolved"]["normalization"].startswith("imagenet")


def test_named_freeze_trains_the_rest(zeros_and_ones, pretrained, tmp_path):
    path, sd = pretrained
    r = train(
        model="resnet20",
        dataset=zeros_and_ones,
        init_weights=str(path),
        freeze="conv1,bn1,layer1",
        normalize="data",
        out=str(tmp_path / "named"),
        **FAST,
    )
    after = r.model.state_dict()
    assert all(torch.equal(after[k], sd[k]) for k in sd if k.split(".")[0] in ("conv1", "bn1", "layer1"))
    assert not torch.equal(after["layer2.0.conv1.weight"], sd["layer2.0.conv1.weight"])
    assert not torch.equal(after["layer3.0.bn1.running_mean"], sd["layer3.0.bn1.running_mean"])


def test_backbone_lr_scale_slows_everything_but_the_head():
    model = create_model("resnet20", num_classes=2)
    opt = build_optimizer(model, TrainConfig(lr=0.1, backbone_lr_scale=0.1, weight_decay=1e-4))
    by_lr = {}
    for g in opt.param_groups:
        by_lr.setdefault(round(g["lr"], 6), []).extend(g["params"])
    head = {id(p) for p in model.fc.parameters()}
    assert {id(p) for p in by_lr[0.1]} == head
    assert len(by_lr[0.01]) == sum(1 for _ in model.parameters()) - 2
    muon = build_optimizer(model, TrainConfig(optimizer="muon", lr=0.1, muon_lr=0.2, backbone_lr_scale=0.1))
    assert [g["lr"] for g in muon.param_groups if g["muon"]] == pytest.approx([0.02])


def test_fine_tuning_from_a_cnnlab_run_uses_its_normalisation(zeros_and_ones, tmp_path):
    first = train(model="lenet5", dataset=zeros_and_ones, out=str(tmp_path / "first"), **FAST)
    meta = read_model_file(first.run_dir / "model.safetensors")[1]
    assert (
        main(
            [
                "train",
                "lenet5",
                "--data",
                "mnist-sample",
                "--init-weights",
                str(first.run_dir / "model.safetensors"),
                "--backbone-lr-scale",
                "0.1",
                "--epochs",
                "1",
                "--batch-size",
                "64",
                "--precision",
                "fp32",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                str(tmp_path / "second"),
            ]
        )
        == 0
    )
    cfg = json.loads((tmp_path / "second" / "config.json").read_text())
    assert cfg["resolved"]["mean"] == pytest.approx(meta["mean"]) and "weight file" in cfg["resolved"]["normalization"]


def test_normalisation_choices():
    assert input_normalization("imagenet", [0.1], [0.2], "", 3)[:2] == (IMAGENET_MEAN, IMAGENET_STD)
    assert input_normalization("auto", [0.1], [0.2], "", 1)[:2] == ([0.1], [0.2])
    assert input_normalization("inception", [0.1], [0.2], "", 3)[:2] == ([0.5] * 3, [0.5] * 3)
    with pytest.raises(CnnlabError, match="3-channel"):
        input_normalization("imagenet", [0.1] * 4, [0.2] * 4, "", 4)
