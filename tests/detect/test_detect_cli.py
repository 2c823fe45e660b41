"""The detector from the command line: train (a few steps), evaluate (the COCO table in the
lecture's column order), predict (boxes drawn into a PNG), bench (batch-1 latency); user errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from cnnlab.cli import main
from cnnlab.runs import read_model_meta

TINY = ["--model-arg", "backbone=mobilenet_v1_x0_25", "--model-arg", "channels=16", "--model-arg", "head_convs=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "run"
    code = main(
        [
            "train",
            "fcos",
            "--data",
            "det-sample",
            "--task",
            "detect",
            "--image-size",
            "64",
            "--steps",
            "3",
            "--batch-size",
            "8",
            "--val-split",
            "16",
            "--optimizer",
            "adamw",
            "--lr",
            "0.003",
            "--augment",
            "scale=0.8-1.25",
            *TINY,
            "--threads",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    return out


def test_train_writes_a_detection_run(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["resolved"]["task"] == "detect"
    meta = read_model_meta(run_dir / "model.safetensors")
    assert meta["task"] == "detect" and meta["input_size"] == [1, 64, 64] and meta["model_args"]["in_chans"] == 1
    last = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()][-1]
    assert {"val_ap", "val_ap50", "val_loss", "train_loss_cls"} <= set(last)
    assert (run_dir / "best.safetensors").is_file()


def test_evaluate_prints_the_coco_table(run_dir, capsys):
    assert (
        main(
            [
                "evaluate",
                str(run_dir),
                "--data",
                "det-sample",
                "--image-size",
                "64",
                "--split",
                "val",
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.split()[:1] == ["AP"])
    assert header.split() == ["AP", "AP50", "AP75", "APS", "APM", "APL", "AR1", "AR10", "AR100", "ARS", "ARM", "ARL"]
    assert "val split: 16 images" in out
    picture = run_dir / "eval-val" / "detections.png"
    assert picture.is_file() and Image.open(picture).format == "PNG"
    assert (
        main(
            [
                "evaluate",
                str(run_dir),
                "--data",
                "det-sample",
                "--image-size",
                "64",
                "--split",
                "val",
                "--no-progress",
                "--json",
                "--no-plots",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["columns"][:6] == ["AP", "AP50", "AP75", "APS", "APM", "APL"] and "ap50" in d["metrics"]


def test_predict_draws_boxes_and_bench_times_the_detector(run_dir, tmp_path, capsys):
    from cnnlab.data import load_data

    image = tmp_path / "canvas.png"
    Image.fromarray(load_data("det-sample").test.images[0, 0].numpy()).save(image)
    assert main(["predict", str(run_dir), str(image), "--json", "--no-progress"]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["file"] == str(image) and Image.open(result["picture"]).format == "PNG"
    assert main(["bench", str(run_dir), "--tiny"]) == 0
    out = capsys.readouterr().out
    assert "forward + NMS" in out and "batch-1" in out


def test_task_and_model_mismatches_are_clear_errors(capsys):
    assert main(["train", "fcos", "--data", "mnist-sample", "--task", "detect", "--steps", "1"]) == 2
    assert "detect" in capsys.readouterr().err
    assert main(["train", "lenet5", "--data", "det-sample", "--steps", "1"]) == 2
    assert "detector" in capsys.readouterr().err


def test_predicted_boxes_are_in_the_file_pixels(run_dir, tmp_path, monkeypatch):
    """A 256 x 128 file is letterboxed to the run's 64 x 64 (factor 1/4): a box the network finds at
    (10, 10, 30, 40) of its input is (40, 40, 120, 160) in the file."""
    import torch

    from cnnlab.tasks.detect.api import predict
    from cnnlab.tasks.detect.model import FCOS

    found = {"boxes": torch.tensor([[10.0, 10, 30, 40]]), "scores": torch.tensor([0.9]), "labels": torch.tensor([7])}
    monkeypatch.setattr(FCOS, "select", lambda self, dense, sizes: [found])
    image = tmp_path / "wide.png"
    Image.new("L", (256, 128), 0).save(image)
    (r,) = predict(run_dir, [image], out=tmp_path / "out")
    assert r.boxes == [[40.0, 40.0, 120.0, 160.0]] and r.labels == ["7"] and r.scores == [0.9]
    assert Image.open(r.picture).size[0] >= 256
