"""int8 post-training quantization end to end on a small trained run (LeNet-5, MNIST sample)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from cnnlab.cli import main
from cnnlab.deploy import quantize, read_metadata
from cnnlab.errors import CnnlabError

# The stated bound for this tiny model on its own held-out split (the CIFAR target is 1 point;
# the MNIST sample's held-out split is 2,000 images, so one point is 20 images)
MAX_DROP_POINTS = 1.0


def test_quantize_end_to_end(trained_run, tmp_path):
    rep = quantize(trained_run, calibration=256, out=tmp_path / "l.int8.onnx", threads=1)
    assert rep.images > 500 and rep.split.startswith("validation split")
    assert rep.fp32_top1 > 0.85  # the model did learn, so the comparison means something
    assert rep.drop_points <= MAX_DROP_POINTS, rep.text()
    assert rep.agreement >= 0.97
    # int8 weights: the file is several times smaller (LeNet-5 is 61,706 parameters)
    assert 4 * 61_706 <= rep.fp32_bytes and rep.int8_bytes * 3 <= rep.fp32_bytes
    meta = read_metadata(rep.path)
    assert meta["precision"] == "int8" and "256 calibration images" in meta["quantization"]
    assert meta["model"] == "lenet5" and meta["background"] == "dark"
    text = rep.text()
    assert "top-1 on the validation split" in text and "fp32" in text and "int8" in text


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed")
def test_quantized_file_runs_in_openvino(trained_run, tmp_path):
    rep = quantize(trained_run, calibration=64, out=tmp_path / "o.int8.onnx", engine="openvino", limit=500, threads=1)
    assert rep.engine == "openvino" and rep.drop_points <= MAX_DROP_POINTS + 1.0 and rep.agreement >= 0.95


def test_quantize_cli(trained_run, tmp_path, capsys):
    out = tmp_path / "c.int8.onnx"
    assert (
        main(
            [
                "quantize",
                str(trained_run),
                "--calibration",
                "64",
                "--limit",
                "300",
                "-o",
                str(out),
                "--threads",
                "1",
                "--json",
            ]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    assert d["images"] == 300 and d["calibration"] == 64 and out.is_file()
    assert abs(d["drop_points"] - 100 * (d["fp32_top1"] - d["int8_top1"])) < 1e-9


def test_quantize_refuses_bare_models_and_bad_options(tmp_path, trained_run):
    with pytest.raises(CnnlabError, match="bare model"):
        quantize("lenet5")
    with pytest.raises(CnnlabError, match="onnxruntime or openvino"):
        quantize(trained_run, engine="eager")
    with pytest.raises(CnnlabError, match="ONNX file"):
        quantize(trained_run, out=tmp_path / "x.pt")


def test_a_run_without_a_validation_split_is_compared_on_the_test_split(tmp_path):
    # resnet-cifar and fast-cifar train on all training images (val_split=0): the comparison then reads
    # the test split (it chooses nothing) and says so, instead of failing on an empty split
    import cnnlab

    out = tmp_path / "noval"
    cnnlab.fit(
        model="lenet5",
        data="mnist-sample",
        epochs=1,
        batch_size=64,
        out=str(out),
        progress=False,
        threads=1,
        data_options={"val_split": 0},
    )
    rep = quantize(out, calibration=32, out=tmp_path / "n.int8.onnx", limit=200, threads=1)
    assert rep.split.startswith("test split") and rep.images == 200
    assert 0.3 < rep.fp32_top1 <= 1.0 and rep.drop_points <= MAX_DROP_POINTS + 2.0


def test_quantize_reads_the_data_set_once(trained_run, tmp_path, monkeypatch):
    """Calibration (training images) and the comparison (held-out images) share one read."""
    import cnnlab.data

    reads = []
    real = cnnlab.data.load_data
    monkeypatch.setattr(cnnlab.data, "load_data", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    quantize(trained_run, calibration=16, out=tmp_path / "once.int8.onnx", limit=50, threads=1)
    assert reads == ["mnist-sample"]
