"""Trainer features end to end on tiny data (in-process, one thread, fp32 unless said)."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.cli import main
from cnnlab.data import DataSplits, ImageDataset
from cnnlab.runs import load_run, read_model_file
from cnnlab.train import TrainConfig, train
from cnnlab.train.ema import ModelEMA
from cnnlab.train.recipes import load_recipe
from cnnlab.train.trainer import NonFiniteLoss, should_compile

FAST = dict(precision="fp32", threads=1, progress=False)


@pytest.fixture(autouse=True)
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def data_of(tiny_mnist):
    return f"mnist:{tiny_mnist}"


def test_accumulation_equals_the_larger_batch(tiny_mnist, tmp_path):
    common = dict(model="lenet5", data=data_of(tiny_mnist), epochs=1, schedule="constant", **FAST)
    a = train(batch_size=64, out=str(tmp_path / "a"), **common)
    b = train(batch_size=32, accumulate=2, out=str(tmp_path / "b"), **common)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-4, atol=1e-6, msg=k)
    assert a.final["step"] == b.final["step"] == 462 // 64  # 512 minus the 10% validation carve-out (50)


def test_run_folder_best_last_and_curves(tiny_mnist, tmp_path):
    r = train(
        model="lenet5",
        data=data_of(tiny_mnist),
        epochs=3,
        batch_size=32,
        out=str(tmp_path / "r"),
        label_smoothing=0.1,
        clip_grad=1.0,
        ema=0.9,
        **FAST,
    )
    names = {p.name for p in r.run_dir.iterdir()}
    assert {
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "best.safetensors",
        "curves.png",
        "checkpoint",
    } <= names
    rows = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in rows] == [1, 2, 3] and all(0 <= x["val_top5"] <= 100 for x in rows)
    _, meta = read_model_file(r.run_dir / "best.safetensors")
    assert meta["epoch"] == max(rows, key=lambda x: x["val_top1"])["epoch"]
    loaded = load_run(r.run_dir)  # model.safetensors = the final (EMA) weights
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), r.model(x))
    assert json.loads((r.run_dir / "config.json").read_text())["resolved"]["steps"] == 3 * (462 // 32)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_checkpoint(tiny_mnist, tmp_path):
    from cnnlab.train.checkpoint import load_checkpoint

    out = tmp_path / "nan"
    with pytest.raises(
        NonFiniteLoss,
        match=r"the loss became nan at epoch 1, step (\d+).*last good checkpoint "
        r"is kept",
    ) as e:
        train(
            model="lenet5",
            data=data_of(tiny_mnist),
            epochs=2,
            batch_size=32,
            out=str(out),
            lr=1e6,
            model_args={"activation": "relu"},
            checkpoint_every=1,
            **FAST,
        )
    # resuming would replay the same steps into the same NaN: the hint is to restart with a lower --lr
    assert "--lr" in e.value.hint and "--resume" not in e.value.hint and "replay the same steps" in str(e.value)
    failed_at = int(e.value.args[0].split("step ")[1].split(":")[0])
    ckpt = load_checkpoint(out)
    assert ckpt["position"]["step"] == failed_at - 1  # the last step that finished with a finite loss
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_resume_refuses_changed_settings(tiny_mnist, tmp_path):
    from cnnlab.errors import CnnlabError

    out = tmp_path / "r"
    train(model="lenet5", data=data_of(tiny_mnist), epochs=1, batch_size=64, out=str(out), **FAST)
    with pytest.raises(CnnlabError, match="cannot change lr"):
        train(resume=out, lr=0.5)
    r = train(resume=out, epochs=2, progress=False)  # extending is allowed
    assert [m["epoch"] for m in r.metrics] == [1, 2]


def test_ema_average_and_lookahead():
    model = torch.nn.Linear(2, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ModelEMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, 0.5)
    assert float(ema.module.weight[0, 0]) == 0.5 and float(model.weight.detach()[0, 0]) == 1.0
    look = ModelEMA(model, decay=0.9, every=5, ramp=3.0, lookahead=True)
    assert look.decay_at(50, 100) == pytest.approx(0.9**5 * 0.5**3)
    with torch.no_grad():
        model.weight.fill_(3.0)
    look.update(model, 0.5)
    assert float(model.weight.detach()[0, 0]) == 2.0  # lookahead pulls the model back to the average


def test_tta_and_mixup_and_cutmix_run(tiny_mnist, tmp_path):
    r = train(
        model="lenet5",
        data=data_of(tiny_mnist),
        epochs=1,
        batch_size=32,
        out=str(tmp_path / "t"),
        mixup=0.2,
        cutmix=1.0,
        tta="flip",
        augment="crop=2,flip",
        **FAST,
    )
    assert r.final["val_top1"] >= 0 and r.final["train_loss"] > 0


def test_airbench_whitening_init_whitens_patches():
    from cnnlab.models import create_model

    torch.manual_seed(0)
    m = create_model("airbench")
    x = torch.randn(64, 3, 16, 16) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1)
    x[:, 1] += 0.5 * x[:, 0]  # correlated channels
    m.init_from_data(x)
    out = torch.nn.functional.conv2d(x, m.whiten.weight[:12])  # the + half of the filters
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    cov = flat @ flat.T / flat.shape[1]
    torch.testing.assert_close(cov, torch.eye(12), atol=2e-2, rtol=0)  # eps 5e-4 keeps it just below 1
    assert not m.whiten.weight.requires_grad
    m.set_epoch(2)
    assert m.whiten.bias.requires_grad
    m.set_epoch(3)
    assert not m.whiten.bias.requires_grad


def test_airbench_trains_on_a_tiny_color_set(tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (256,), generator=g)
    images = torch.randint(0, 60, (256, 3, 32, 32), dtype=torch.uint8, generator=g)
    images[labels == 1, 0] += 150  # class 1 is red
    ds = ImageDataset(images, labels, ["grey", "red"])
    splits = DataSplits(
        "toy",
        ds.subset(torch.arange(192)),
        ds.subset(torch.arange(192, 224)),
        test_reader=ds.subset(torch.arange(224, 256)),
    )
    cfg = TrainConfig(
        model="airbench",
        epochs=4,
        batch_size=64,
        lr=0.5,
        momentum=0.85,
        label_smoothing=0.2,
        norm_lr_scale=64,
        ema=0.95,
        ema_every=2,
        ema_ramp=3,
        ema_start_epochs=1,
        lookahead=True,
        tta="flip-translate",
        augment="crop=2:reflect,flip",
        model_args={"whiten_bias_epochs": 2, "width": 0.25},
        out=str(tmp_path / "ab"),
        **FAST,
    )
    r = train(cfg, dataset=splits)
    assert r.final["val_top1"] == 100.0
    # the Muon recipe's optimizer and head on the same toy set (its SGD rates scale with the batch: 2,000 -> 64)
    muon = load_recipe(
        "fast-cifar",
        epochs=4,
        batch_size=64,
        lr=0.67 * 64,
        data="cifar10",
        out=str(tmp_path / "mu"),
        model_args={"whiten_bias_epochs": 2, "width": 0.25, "scale": 1 / 64, "head_std": 1.0},
        **FAST,
    )
    r = train(muon, dataset=splits)
    assert r.final["val_top1"] == 100.0 and r.final["test_top1"] == 100.0  # the recipe ends with a final test
    head = r.model.fc.weight
    assert head.shape == (2, 64)


def test_compile_auto_only_for_large_dense_nets():
    from cnnlab.models import create_model

    cpu = torch.device("cpu")
    lenet = create_model("lenet5")
    assert should_compile(TrainConfig(compile="auto"), lenet, (1, 28, 28), cpu)[0] is False
    assert should_compile(TrainConfig(compile="on"), lenet, (1, 28, 28), cpu)[0] is True
    assert should_compile(TrainConfig(compile="off"), lenet, (1, 28, 28), cpu)[0] is False
    on, why = should_compile(TrainConfig(compile="auto"), create_model("airbench"), (3, 32, 32), cpu)
    assert not on and "118" in why


def test_cli_recipe_set_and_resume(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = [
        "train",
        "--recipe",
        "lenet-mnist",
        "--data",
        data_of(tiny_mnist),
        "--set",
        "epochs=2",
        "--set",
        "batch_size=32",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 2 and config["batch_size"] == 32  # --set over the recipe
    assert config["lr"] == 0.1 and config["augment"] == "affine=10:0.1:10,crop=2"  # the recipe's own
    printed = capsys.readouterr().out
    assert "val accuracy" in printed and "test accuracy" in printed and "held-out" not in printed
    assert printed.count("epoch   ") == 2  # --no-progress still prints one line per epoch
    # resuming a finished run only rewrites the final files
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["train"]) == 2
    assert "which model" in capsys.readouterr().err


def test_cli_data_options_reach_load_data(tiny_mnist, tmp_path):
    out = tmp_path / "vs"
    argv = [
        "train",
        "lenet5",
        "--data",
        data_of(tiny_mnist),
        "--val-split",
        "0.25",
        "--epochs",
        "1",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["data_options"] == {"val_split": 0.25}
    assert json.loads((out / "metrics.jsonl").read_text())["step"] == (512 - 128) // 64  # 25% of each class: 128


def test_eval_every_skips_validations_but_never_the_last(tiny_mnist, tmp_path):
    r = train(
        model="lenet5", data=data_of(tiny_mnist), epochs=3, batch_size=64, eval_every=2, out=str(tmp_path / "e"), **FAST
    )
    assert [m["val_top1"] is not None for m in r.metrics] == [False, True, True]
    assert r.best["epoch"] in (2, 3) and (r.run_dir / "curves.png").is_file()


def test_alternating_flip_mirrors_each_image_every_other_epoch(tiny_mnist, tmp_path):
    from cnnlab.train.trainer import alternating_flip_mask

    bits = torch.tensor([True, False, True, False])
    idx = torch.tensor([3, 0, 2])
    assert alternating_flip_mask(bits, idx, 1).tolist() == [False, True, True]
    assert alternating_flip_mask(bits, idx, 2).tolist() == [True, False, False]
    assert alternating_flip_mask(bits, idx, 3).tolist() == [False, True, True]
    r = train(
        model="lenet5",
        data=data_of(tiny_mnist),
        epochs=2,
        batch_size=64,
        alternating_flip=True,
        out=str(tmp_path / "af"),
        **FAST,
    )
    assert r.final["val_top1"] > 10
