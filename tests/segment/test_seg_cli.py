"""The documented commands end to end: train a segmentation network on seg-sample, evaluate, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.cli import main
from cnnlab.runs import read_model_meta


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("seg") / "run"
    threads = str(torch.get_num_threads())
    code = main(
        [
            "train",
            "fcn8s",
            "--data",
            "seg-sample",
            "-m",
            "backbone=mobilenet_v3_small",
            "--steps",
            "6",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
            "--augment",
            "scale=0.8:1.25,crop=4,flip",
            "--out",
            str(run),
            "--threads",
            threads,
            "--no-progress",
        ]
    )
    assert code == 0
    return run


def test_train_reports_val_miou_and_records_the_task(trained, capsys):
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines() if line.strip()]
    last = rows[-1]
    assert 0 <= last["val_miou"] <= 100 and 0 <= last["val_pixel_acc"] <= 100
    meta = read_model_meta(trained / "model.safetensors")
    assert meta["task"] == "segment" and meta["classes"][0] == "background" and meta["input_size"] == [1, 64, 64]
    assert (trained / "best.safetensors").is_file()
    config = json.loads((trained / "config.json").read_text())
    assert config["resolved"]["task"] == "segment"


def test_evaluate_and_predict_the_run(trained, tmp_path, capsys):
    threads = ["--threads", str(torch.get_num_threads())]
    assert main(["evaluate", str(trained), "--data", "seg-sample", "--split", "test", "--json", *threads]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["split"] == "test" and d["images"] == 400 and len(d["iou"]) == 11
    cm = np.array(d["confusion"])
    assert d["pixel_acc"] == pytest.approx(100 * np.trace(cm) / cm.sum())
    assert (trained / "eval-test" / "confusion.png").is_file()
    canvas = np.zeros((96, 120), np.uint8)  # larger than the 64 x 64 training canvases
    canvas[30:60, 40:50] = 255
    Image.fromarray(canvas).save(tmp_path / "bigger.png")
    assert main(["predict", str(trained), str(tmp_path / "bigger.png")]) == 0
    out = trained / "predictions" / "bigger.overlay.png"
    assert out.is_file() and "bigger.overlay.png" in capsys.readouterr().out


def test_a_classifier_on_segmentation_data_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "resnet20", "--data", "seg-sample", "--steps", "1", "--out", str(tmp_path / "r")]) == 2
    assert "segmentation" in capsys.readouterr().err
