"""The Task protocol: the trainer asks the task for everything task-specific (a toy task proves it),
the data decide the task, a contradiction is a clear error, and the running sums the trainer reads
only when it logs add up to what per-batch host reads would give."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
from test_trainer import FAST, keep_threads  # noqa: F401 - the trainer tests' settings and thread guard

from cnnlab.cli import main
from cnnlab.data import BatchLoader, DataSplits, ImageDataset
from cnnlab.errors import CnnlabError
from cnnlab.runs import read_model_meta
from cnnlab.train import TrainConfig, train
from cnnlab.train.callbacks import Callback
from cnnlab.train.state import RunningSums, batch_sum
from cnnlab.train.task import TASKS, ClassificationTask, Task, get_task, task_for


def toy_splits(n: int = 48, task: str | None = None) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = torch.randint(0, 60, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    images[labels == 1, :, :4] += 150  # class 1: a bright top half
    ds = ImageDataset(images, labels, ["dark", "bright"])
    splits = DataSplits(
        "toy",
        ds.subset(torch.arange(n - 16)),
        ds.subset(torch.arange(n - 16, n)),
        test_reader=ds.subset(torch.arange(n - 16, n)),
    )
    if task is not None:
        splits.task = task
    return splits


class ToyTask(ClassificationTask):
    """A task with its own names: the best epoch is the one with the highest ``score`` (= -loss)."""

    name, monitor, metrics = "toy", "score", ("loss", "score")

    def train_record(self, sums):
        return {"loss": sums["loss"] / sums["seen"]}

    def evaluate(self, model, loader, autocast, device):
        loss = super().evaluate(model, loader, autocast, device)["loss"]
        return {"loss": loss, "score": -loss}

    describe = Task.describe  # the protocol's default text: "loss 0.6931 score -0.6931"


class SmallNet(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Flatten(), nn.Linear(64, 2))


def test_registry_and_config_name_the_tasks():
    assert isinstance(get_task("classify"), ClassificationTask) and get_task("classify") is not get_task("classify")
    with pytest.raises(CnnlabError, match="unknown task 'sgment'") as e:
        get_task("sgment")
    assert "classify" in e.value.hint
    with pytest.raises(CnnlabError, match="task='sgment'"):
        TrainConfig(task="sgment").validate()
    assert TrainConfig().task == "auto" and TrainConfig(task="classify").validate().task == "classify"


def test_the_data_decide_and_a_contradiction_is_an_error(monkeypatch):
    assert task_for("auto", toy_splits()).name == "classify"  # no task attribute: classification
    assert task_for("classify", toy_splits()).name == "classify"
    monkeypatch.setitem(TASKS, "toy", f"{__name__}:ToyTask")
    assert isinstance(task_for("auto", toy_splits(task="toy")), ToyTask)
    with pytest.raises(CnnlabError, match="task 'classify' does not fit the data: toy is a toy data set") as e:
        task_for("classify", toy_splits(task="toy"))
    assert "drop --task" in e.value.hint


def test_a_model_made_for_another_task_is_refused(tmp_path):
    model = SmallNet()
    model.task = "segment"
    with pytest.raises(CnnlabError, match="SmallNet is a segment model, but this run trains the classify task"):
        train(model=model, dataset=toy_splits(), epochs=1, batch_size=8, out=str(tmp_path / "r"), **FAST)


def test_the_trainer_asks_the_task_for_names_numbers_and_the_best_epoch(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(TASKS, "toy", f"{__name__}:ToyTask")
    r = train(
        model=SmallNet(),
        dataset=toy_splits(task="toy"),
        epochs=4,
        batch_size=8,
        lr=0.2,
        final_test=True,
        out=str(tmp_path / "toy"),
        **FAST,
    )
    lines = [json.loads(x) for x in (r.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert list(lines[0])[:8] == [
        "epoch",
        "step",
        "train_loss",
        "val_loss",
        "val_score",
        "test_loss",
        "test_score",
        "lr",
    ]
    assert all(m["val_score"] == -m["val_loss"] for m in lines)
    assert [m["test_score"] is not None for m in lines] == [False, False, False, True]
    best = max(lines, key=lambda m: m["val_score"])
    assert r.best == r.metrics[best["epoch"] - 1] and r.monitor == "score"
    assert read_model_meta(r.run_dir / "best.safetensors")["epoch"] == best["epoch"]
    assert read_model_meta(r.run_dir / "model.safetensors")["task"] == "toy"
    assert json.loads((r.run_dir / "config.json").read_text())["resolved"]["task"] == "toy"
    out = capsys.readouterr().out
    assert f"val loss {lines[0]['val_loss']:.4f} score {lines[0]['val_score']:.4f}" in out


def test_a_classification_run_records_its_task_and_the_cli_takes_task(tmp_path, capsys):
    out = tmp_path / "cli"
    splits_dir = tmp_path / "data"
    from train_support import write_tiny_mnist

    write_tiny_mnist(splits_dir, 96, 32)
    data = ["--data", f"mnist:{splits_dir}"]
    quick = "--epochs 1 --precision fp32 --threads 1 --no-progress".split()
    argv = ["train", "lenet5", *data, "--task", "classify", *quick, "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "classify" and config["resolved"]["task"] == "classify"
    assert read_model_meta(out / "model.safetensors")["task"] == "classify"
    assert main(["train", "lenet5", *data, "--task", "detectt", "--out", str(out)]) == 2
    assert "task='detectt'" in capsys.readouterr().err


class _StepLosses(Callback):
    name = "step_losses"

    def __init__(self):
        self.losses = []

    def on_step_end(self, ctx, step, loss):
        self.losses.append(loss)


def test_a_step_callback_sees_the_running_loss_that_ends_as_train_loss(tmp_path):
    seen = _StepLosses()
    r = train(
        model=SmallNet(),
        dataset=toy_splits(),
        epochs=1,
        batch_size=8,
        lr=0.2,
        callbacks=[seen],
        out=str(tmp_path / "s"),
        **FAST,
    )
    assert len(seen.losses) == r.final["step"] == 32 // 8
    assert seen.losses[-1] == r.final["train_loss"]


def test_running_sums_add_in_batch_order_in_float64_and_stop_at_the_first_bad_batch():
    g = torch.Generator().manual_seed(1)
    means = [torch.rand((), generator=g) * 3 for _ in range(7)]
    sums = RunningSums()
    for i, m in enumerate(means):
        sums.add({"seen": 5, "loss": batch_sum(m, 5)}, ("epoch 1", i + 1))
        if i == 3:
            assert sums.sync() is None
    assert sums.sync() is None
    host = 0.0
    for m in means:  # what a host read after every batch adds up to
        host += float(m) * 5
    assert sums.totals == {"seen": 35.0, "loss": host}
    sums.add({"seen": 2, "loss": batch_sum(torch.tensor(1.0), 2)}, ("epoch 2", 1))
    sums.add({"seen": 2, "loss": batch_sum(torch.tensor(float("nan")), 2)}, ("epoch 2", 2))
    loss, where = sums.sync()
    assert loss != loss and where == ("epoch 2", 2) and sums.totals["seen"] == 37.0
    legacy = RunningSums([10.0, 4.0, 7.0, 0.0, 1.5, 2.5])  # a checkpoint of the classification trainer before tasks
    assert legacy.totals == {"seen": 10.0, "loss": 4.0, "correct": 7.0, "aux_loss.0": 1.5, "aux_loss.1": 2.5}


def test_the_loaders_alternating_flip_is_the_trainers_flip_after_normalisation():
    from cnnlab.data.loader import alternating_flip_mask

    data = toy_splits(64).train
    plain = BatchLoader(data, 8, [0.2], [0.3], shuffle=True, seed=4, channels_last=True)
    flipped = BatchLoader(data, 8, [0.2], [0.3], shuffle=True, seed=4, channels_last=True, alternating_flip=True)
    bits = torch.rand(len(data), generator=torch.Generator().manual_seed(4 + 77)) < 0.5
    mirrored_in = torch.zeros(len(data), dtype=torch.long)
    for epoch in (1, 2):
        plain.set_epoch(epoch)
        flipped.set_epoch(epoch)
        order = plain.order()
        for i, ((x, y), (xf, yf)) in enumerate(zip(plain, flipped)):
            idx = order[i * 8 : (i + 1) * 8]
            mask = alternating_flip_mask(bits, idx, epoch)
            assert torch.equal(xf, torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)) and torch.equal(y, yf)
            assert xf.is_contiguous(memory_format=torch.channels_last)
            mirrored_in[idx] += mask.long()
    assert (mirrored_in == 1).all()  # over two epochs every image is seen mirrored exactly once


def test_a_run_folder_from_before_the_task_setting_is_not_other_settings():
    from cnnlab.experiments.runner import config_changes

    planned = TrainConfig(epochs=3).to_dict()
    stored = {k: v for k, v in planned.items() if k != "task"}  # config.json written before `task` existed
    assert config_changes(stored, planned) == []
    assert config_changes({**stored, "task": "classify"}, planned) == ["task: 'classify' -> 'auto'"]
