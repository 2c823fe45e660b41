"""Callbacks and loggers: metrics.csv and TensorBoard hold metrics.jsonl's numbers; early stopping
stops where a hand count over the logged metric says; a run with stateful callbacks, interrupted
and resumed, ends bitwise equal to an uninterrupted one."""

from __future__ import annotations

import csv
import subprocess

import pytest
import torch
from train_support import PYTHON, child_env

from cnnlab.errors import CnnlabError
from cnnlab.runs import read_jsonl, read_model_file
from cnnlab.train import TrainConfig, train
from cnnlab.train.callbacks import Callback, EarlyStopping, parse_early_stop

TIMING = {"images_per_s", "seconds", "eval_seconds"}  # wall-clock numbers: differ between runs


def _settings(tiny_mnist, out, **kw):
    base = dict(
        model="lenet5",
        data=f"mnist:{tiny_mnist}",
        epochs=3,
        batch_size=32,
        lr=0.05,
        precision="fp32",
        threads=1,
        deterministic=True,
        progress=False,
        out=str(out),
        overwrite=True,
        seed=1,
    )
    return {**base, **kw}


def _stop_epoch_by_hand(values, patience, min_delta, larger_is_better):
    """The first epoch after which `patience` evaluations in a row failed to beat the best by min_delta."""
    best, bad = None, 0
    for epoch, value in enumerate(values, start=1):
        better = best is None or (value > best + min_delta if larger_is_better else value < best - min_delta)
        if better:
            best, bad = value, 0
        else:
            bad += 1
            if bad >= patience:
                return epoch
    return None


def test_csv_and_tensorboard_hold_the_jsonl_numbers(tiny_mnist, tmp_path):
    pytest.importorskip("tensorboard")  # a test extra; the logger itself says how to install it
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(**_settings(tiny_mnist, run, epochs=2, log="tensorboard,csv"))
    records = read_jsonl(run / "metrics.jsonl")
    assert len(records) == 2

    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    for row, rec in zip(rows, records):
        assert list(row) == list(rec)
        for key, value in rec.items():
            if value is None:
                assert row[key] == ""
            elif isinstance(value, str):
                assert row[key] == value
            else:
                assert float(row[key]) == value  # repr round-trips the float exactly

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    numeric = {k for k, v in records[0].items() if isinstance(v, (int, float)) and k != "epoch"}
    assert tags == numeric
    for tag in tags:
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        assert [s for s, _ in logged] == [r["epoch"] for r in records]
        for (_, value), rec in zip(logged, records):
            assert value == pytest.approx(rec[tag], rel=1e-6, abs=1e-9)  # event files store float32
    # the event files are a run folder's own: --overwrite replaces the folder
    again = train(**_settings(tiny_mnist, run, epochs=1, log="tensorboard"))
    assert len(again.metrics) == 1 and not (run / "metrics.csv").exists()


def test_early_stopping_stops_where_the_hand_count_says(tiny_mnist, tmp_path):
    ref = train(**_settings(tiny_mnist, tmp_path / "ref", epochs=6))
    losses = [m["val_loss"] for m in ref.metrics]
    patience, min_delta = 2, 0.02
    expected = _stop_epoch_by_hand(losses, patience, min_delta, larger_is_better=False) or 6

    run = train(
        **_settings(
            tiny_mnist, tmp_path / "stopped", epochs=6, early_stop=f"val_loss:patience={patience}:min_delta={min_delta}"
        )
    )
    assert len(run.metrics) == expected
    assert [m["val_loss"] for m in run.metrics] == losses[:expected]  # the same run, cut short
    assert len(read_jsonl(run.run_dir / "metrics.jsonl")) == expected

    # a delta nothing can beat: epoch 1 sets the best, epochs 2, 3 fail -> stop after 3 (patience 2)
    hard = train(**_settings(tiny_mnist, tmp_path / "hard", epochs=6, early_stop="val_top1:patience=2:min_delta=100"))
    assert _stop_epoch_by_hand([m["val_top1"] for m in ref.metrics], 2, 100, True) == 3
    assert len(hard.metrics) == 3


def test_early_stopping_never_on_the_test_split(tiny_mnist, tmp_path):
    with pytest.raises(CnnlabError, match="test split"):
        TrainConfig(early_stop="test_top1:patience=3").validate()
    with pytest.raises(CnnlabError, match="validation metric"):
        parse_early_stop("train_loss:patience=3")
    with pytest.raises(CnnlabError, match="cannot read"):
        parse_early_stop("val_top1:patience")
    assert parse_early_stop("val_loss:patience=4:min_delta=0.5").mode == "min"
    assert EarlyStopping("val_top1").mode == "max"
    with pytest.raises(CnnlabError, match="needs a validation split"):
        train(
            **_settings(tiny_mnist, tmp_path / "noval", data_options={"val_split": 0}, early_stop="val_top1:patience=2")
        )
    cli = subprocess.run(
        [
            PYTHON,
            "-m",
            "cnnlab",
            "train",
            "lenet5",
            "--data",
            f"mnist:{tiny_mnist}",
            "--early-stop",
            "test_top1:patience=2",
            "--out",
            str(tmp_path / "cli"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
    )
    assert cli.returncode == 2 and "test split" in cli.stderr and "Traceback" not in cli.stderr
    with pytest.raises(CnnlabError, match="unknown logger|log="):
        TrainConfig(log="wandb").validate()


class _Interrupt(Callback):
    """Stops the process-like run at one optimizer step (after the checkpoint before it)."""

    name = "interrupt"

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, ctx, step, loss):
        if step == self.at_step:
            raise KeyboardInterrupt


class _Recorder(Callback):
    name = "recorder"

    def __init__(self):
        self.calls = []

    def on_train_start(self, ctx):
        self.calls.append("train_start")

    def on_epoch_start(self, ctx, epoch):
        self.calls.append(f"epoch_start {epoch}")

    def on_step_end(self, ctx, step, loss):
        assert loss > 0
        self.calls.append("step")

    def on_epoch_end(self, ctx, record):
        self.calls.append(f"epoch_end {record['epoch']}")

    def on_train_end(self, ctx):
        self.calls.append("train_end")


def test_user_callback_sees_every_hook_in_order(tiny_mnist, tmp_path):
    rec = _Recorder()
    result = train(**_settings(tiny_mnist, tmp_path / "r", epochs=2), callbacks=[rec])
    steps = result.metrics[0]["step"]
    one = lambda e: [f"epoch_start {e}", *["step"] * steps, f"epoch_end {e}"]  # noqa: E731
    assert rec.calls == ["train_start", *one(1), *one(2), "train_end"]


def test_resume_with_early_stopping_and_csv_is_bitwise(tiny_mnist, tmp_path):
    # epoch 1 sets the best val_top1; nothing beats it by 100 points, so 2 bad evaluations stop after epoch 3.
    # The interruption (in epoch 3) falls after one bad evaluation: the resumed run must carry the counter
    # (without it, epoch 3 would set a new best and the run would stop after epoch 5).
    kw = dict(
        epochs=6,
        early_stop="val_top1:patience=2:min_delta=100",
        log="csv",
        checkpoint_every=5,
        augment="crop=2,flip",
        mixup=0.2,
        ema=0.9,
    )
    ref = train(**_settings(tiny_mnist, tmp_path / "ref", **kw))
    assert len(ref.metrics) == 3

    run = tmp_path / "interrupted"
    steps_per_epoch = ref.metrics[0]["step"]
    with pytest.raises(KeyboardInterrupt):
        train(**_settings(tiny_mnist, run, **kw), callbacks=[_Interrupt(2 * steps_per_epoch + 7)])
    assert len(read_jsonl(run / "metrics.jsonl")) == 2
    resumed = train(resume=run, progress=False)
    assert len(resumed.metrics) == 3

    a, _ = read_model_file(tmp_path / "ref" / "model.safetensors")
    b, _ = read_model_file(run / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for x, y in zip(read_jsonl(tmp_path / "ref" / "metrics.jsonl"), read_jsonl(run / "metrics.jsonl"), strict=True):
        assert {k: v for k, v in x.items() if k not in TIMING} == {k: v for k, v in y.items() if k not in TIMING}
    with open(tmp_path / "ref" / "metrics.csv") as f, open(run / "metrics.csv") as g:
        ref_rows, run_rows = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert len(ref_rows) == len(run_rows) == 3
    for x, y in zip(ref_rows, run_rows):
        assert {k: v for k, v in x.items() if k not in TIMING} == {k: v for k, v in y.items() if k not in TIMING}
    # resuming a run that early stopping ended trains nothing more
    again = train(resume=run, progress=False)
    assert len(again.metrics) == 3


def test_tensorboard_missing_says_how_to_install(monkeypatch):
    import sys

    from cnnlab.train.loggers import make_loggers

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if the package were absent
    with pytest.raises(CnnlabError) as e:
        make_loggers("csv,tensorboard")
    assert "tensorboard package" in str(e.value) and "cnnlab[tensorboard]" in e.value.hint
    assert [type(x).__name__ for x in make_loggers("csv, csv")] == ["CsvLogger"]
