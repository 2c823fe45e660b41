"""Evaluate and predict for a segmentation run (a run folder written here by hand; the trainer's own run
folders are covered by test_seg_cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab import create_model
from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.runs import save_model
from cnnlab.tasks.segment.evaluate import evaluate_segmentation
from cnnlab.tasks.segment.metrics import confusion_matrix, iou_per_class
from cnnlab.tasks.segment.predict import predict_segmentation
from cnnlab.tasks.segment.sample import CLASSES, PALETTE


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("segrun")
    data = load_data("seg-sample")
    model = create_model("fcn8s", backbone="mobilenet_v3_small", num_classes=11, in_chans=1)
    meta = {
        "model": "fcn8s",
        "model_args": {"backbone": "mobilenet_v3_small"},
        "classes": CLASSES,
        "input_size": [1, 64, 64],
        "mean": data.mean,
        "std": data.std,
        "task": "segment",
        "palette": [list(c) for c in PALETTE],
        "background": "dark",
    }
    save_model(run / "model.safetensors", model, meta)
    (run / "config.json").write_text('{"model": "fcn8s", "data": "seg-sample", "data_options": {}}')
    return run


def test_evaluate_matches_a_count_over_the_split(run_dir):
    result = evaluate_segmentation(run_dir, "seg-sample", "val", progress=False, threads=torch.get_num_threads())
    data = load_data("seg-sample")
    from cnnlab.runs import load_run

    model = load_run(run_dir).model
    with torch.no_grad():
        x = (data.val.images.float() / 255 - data.mean[0]) / data.std[0]
        pred = torch.cat([model(x[i : i + 50]).argmax(1) for i in range(0, len(x), 50)])
    cm = confusion_matrix(pred, data.val.labels, 11)
    assert np.array_equal(result.confusion, cm.numpy())
    assert result.n_images == 200 and result.confusion.sum() == 200 * 64 * 64
    ious = iou_per_class(cm)
    present = [v for v in ious if v is not None]
    assert result.miou == pytest.approx(100 * sum(present) / len(present))
    text = result.text()
    assert "mean IoU" in text and "digit 7" in text and "val split" in text
    written = result.save_plots(run_dir / "eval-val")
    assert written["confusion"].is_file() and written["examples"].is_file()


def test_predict_writes_overlays_at_the_image_size(run_dir, tmp_path):
    canvas = np.zeros((50, 83), np.uint8)  # not the training size, and odd
    canvas[10:40, 20:30] = 255
    Image.fromarray(canvas).save(tmp_path / "digit.png")
    Image.fromarray(255 - canvas).save(tmp_path / "inverted.png")
    results = predict_segmentation(run_dir, [tmp_path], out_dir=tmp_path / "out")
    assert [Path(r.file).name for r in results] == ["digit.png", "inverted.png"]
    for r in results:
        assert r.mask.shape == (50, 83) and Path(r.overlay).is_file()
        assert sum(r.pixels.values()) == pytest.approx(100, abs=0.1)
        with Image.open(r.overlay) as im:
            assert im.format == "PNG"
    assert results[1].notes and "inverted" in results[1].notes[0]
    assert np.array_equal(results[0].mask, results[1].mask)  # the dark-on-light one is inverted first


def test_cli_dispatches_on_the_task(run_dir, tmp_path, capsys):
    threads = ["--threads", str(torch.get_num_threads())]  # the suite's thread count (conftest.py)
    assert (
        main(
            ["evaluate", str(run_dir), "--data", "seg-sample", "--split", "val", "--out", str(tmp_path / "e"), *threads]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "pixel accuracy" in out and "mean IoU" in out and (tmp_path / "e" / "confusion.png").is_file()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(tmp_path / "x.png")
    assert main(["predict", str(run_dir), str(tmp_path / "x.png"), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "x.overlay.png").is_file() and "x.overlay.png" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir), "--data", "mnist-sample", "--split", "val", *threads]) == 2
    assert "not a segmentation data set" in capsys.readouterr().err


def test_a_greyscale_run_of_a_colour_network_loads(tmp_path):
    """load_run builds the network with the recorded input channels (a 1-channel first layer), for
    segmentation networks and classifiers alike."""
    from cnnlab.runs import load_run

    for name, args in (("resnet20", {}), ("unet", {"backbone": "resnet20"})):
        model = create_model(name, num_classes=3, in_chans=1, **args)
        meta = {
            "model": name,
            "model_args": args,
            "classes": ["a", "b", "c"],
            "input_size": [1, 16, 16],
            "mean": [0.5],
            "std": [0.25],
        }
        save_model(tmp_path / f"{name}.safetensors", model, meta)
        loaded = load_run(tmp_path / f"{name}.safetensors").model
        assert loaded.in_chans == 1
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
