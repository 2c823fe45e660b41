"""Three splits, one rule: training selects on validation only; the test split is read only when asked."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
import torch
from train_support import PYTHON, child_env

from cnnlab.cli import main
from cnnlab.data import DataSplits, ImageDataset, sources
from cnnlab.runs import read_model_file
from cnnlab.train import train

FAST = dict(precision="fp32", threads=1, progress=False, batch_size=64)


@pytest.fixture
def test_reads(monkeypatch):
    """A spy on the data layer's reader of the official test files (MNIST t10k-*)."""
    calls = []
    original = sources._read_idx_split

    def spy(root, prefix, name, classes):
        calls.append(prefix)
        return original(root, prefix, name, classes)

    monkeypatch.setattr(sources, "_read_idx_split", spy)
    return calls


def test_training_without_final_test_never_reads_the_test_split(tiny_mnist, tmp_path, test_reads):
    r = train(model="lenet5", data=f"mnist:{tiny_mnist}", epochs=2, out=str(tmp_path / "r"), **FAST)
    assert test_reads == ["train"]  # the t10k files were never read
    assert all(m["test_top1"] is None for m in r.metrics)
    # best.safetensors is the best validation epoch
    _, meta = read_model_file(r.run_dir / "best.safetensors")
    assert meta["epoch"] == max(r.metrics, key=lambda m: m["val_top1"])["epoch"]


def test_final_test_reads_the_test_split_once_and_chooses_nothing(tiny_mnist, tmp_path, test_reads):
    r = train(model="lenet5", data=f"mnist:{tiny_mnist}", epochs=2, final_test=True, out=str(tmp_path / "t"), **FAST)
    assert test_reads == ["train", "t10k"]
    assert [m["test_top1"] is not None for m in r.metrics] == [False, True]
    assert 0 <= r.final["test_top1"] <= 100 and r.final["test_top5"] >= r.final["test_top1"]
    _, meta = read_model_file(r.run_dir / "best.safetensors")
    assert meta["epoch"] == max(r.metrics, key=lambda m: m["val_top1"])["epoch"]


def test_no_validation_split_selects_nothing(tiny_mnist, tmp_path, capsys):
    argv = [
        "train",
        "lenet5",
        "--data",
        f"mnist:{tiny_mnist}",
        "--val-split",
        "0",
        "--test",
        "--epochs",
        "1",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path / "n"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "val accuracy" not in out and "val: none" in out
    assert not (tmp_path / "n" / "best.safetensors").exists()
    row = json.loads((tmp_path / "n" / "metrics.jsonl").read_text())
    assert row["val_top1"] is None and row["test_top1"] is not None and row["step"] == 512 // 64


def three_class_splits(n=96) -> DataSplits:
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 50, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    for k in range(3):
        images[labels == k, :, 4 + 8 * k : 10 + 8 * k] = 250
    ds = ImageDataset(images, labels, ["a", "b", "c"])
    return DataSplits("three", ds.subset(torch.arange(64)), ds.subset(torch.arange(64, 96)))


def test_three_classes_report_no_top5(tmp_path, capsys):
    r = train(model="lenet5", dataset=three_class_splits(), epochs=1, out=str(tmp_path / "3"), **FAST)
    assert r.final["val_top5"] is None and r.final["val_top1"] is not None


def test_freeze_backbone_without_weights_warns(tmp_path, capsys):
    train(model="lenet5", dataset=three_class_splits(), epochs=1, freeze="backbone", out=str(tmp_path / "f"), **FAST)
    assert "trains a classifier on random features" in capsys.readouterr().out


def test_run_files_are_0644(tiny_mnist, tmp_path):
    old = os.umask(0o022)
    try:
        r = train(model="lenet5", data=f"mnist:{tiny_mnist}", epochs=1, out=str(tmp_path / "m"), **FAST)
    finally:
        os.umask(old)
    files = [p for p in r.run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {
        "config.json",
        "metrics.jsonl",
        "model.safetensors",
        "best.safetensors",
        "curves.png",
        "last.safetensors",
    }
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_no_progress_and_a_log_file_get_one_line_per_epoch(tiny_mnist, tmp_path):
    base = [
        PYTHON,
        "-m",
        "cnnlab",
        "train",
        "lenet5",
        "--data",
        f"mnist:{tiny_mnist}",
        "--epochs",
        "2",
        "--precision",
        "fp32",
        "--threads",
        "1",
    ]
    for extra in (["--no-progress"], []):  # [] = progress asked for, but stderr is a pipe, not a terminal
        out = tmp_path / ("q" if extra else "p")
        r = subprocess.run(
            base + extra + ["--out", str(out)], capture_output=True, text=True, env=child_env(), timeout=300
        )
        assert r.returncode == 0, r.stderr
        epochs = [line for line in r.stdout.splitlines() if line.startswith("epoch ")]
        assert len(epochs) == 2 and "val loss" in epochs[0]
        assert "\r" not in r.stderr and "\r" not in r.stdout
        assert "val accuracy:" in r.stdout
