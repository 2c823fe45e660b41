"""Shipping a detector and a segmenter: `cnnlab export` writes the detector's dense half (boxes and
probabilities at every location) and the settings that finish it; ONNX Runtime plus
`cnnlab.tasks.detect.deploy.select` give the eager detector's boxes; `predict` and `bench` run it on
the deployment engines; `quantize` scores detectors by box AP and segmenters by mIoU, the same
numbers `cnnlab evaluate` reports for fp32."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab.cli import main
from cnnlab.deploy import export, quantize, read_metadata
from cnnlab.deploy.engines import make_runner
from cnnlab.deploy.source import example_inputs, load_source
from cnnlab.errors import CnnlabError
from cnnlab.tasks.detect.deploy import DenseDetector, select

TINY_FCOS = ["backbone=mobilenet_v1_x0_25", "channels=16", "head_convs=1", "score_threshold=0.01"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    out = tmp_path_factory.mktemp("det") / "run"
    args = ["train", "fcos", "--data", "det-sample", "--task", "detect", "--image-size", "64"]
    args += ["--steps", "40", "--batch-size", "8", "--val-split", "16", "--optimizer", "adamw", "--lr", "0.003"]
    for a in TINY_FCOS:
        args += ["--model-arg", a]
    assert main([*args, "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "run"
    args = ["train", "fcn8s", "--data", "seg-sample", "-m", "backbone=mobilenet_v3_small", "--steps", "6"]
    assert (
        main([*args, "--batch-size", "16", "--lr", "0.01", "--threads", "1", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def test_exported_detector_gives_the_eager_boxes(detector, tmp_path):
    rep = export(detector, "onnx", tmp_path / "fcos.onnx", check_images=16)
    meta = read_metadata(rep.path)
    assert meta["task"] == "detect" and meta["input_size"] == [1, 64, 64]
    assert meta["level_sizes"] == [64, 16, 4]  # 8x8, 4x4 and 2x2 cells at strides 8, 16, 32 of 64 px
    assert meta["score_threshold"] == 0.01 and meta["nms_threshold"] == 0.6 and meta["max_detections"] == 100
    assert rep.parity.ok and rep.parity.top1_agreement == 1.0
    assert rep.parity.agreement_of == "images with the same detections after NMS"

    source = load_source(detector)
    x, _, _ = example_inputs(source, 8)
    dense = make_runner(rep.path, engine="onnxruntime")(x)
    assert dense.shape == (8, 84, 4 + 10 + 1)  # 10 digit classes
    got, want = select(dense, meta), source.model.detect(x)
    assert sum(len(d["boxes"]) for d in want) > 0  # there is something to compare
    for g, w in zip(got, want):
        assert torch.equal(g["labels"], w["labels"])
        torch.testing.assert_close(g["boxes"], w["boxes"], atol=1e-3, rtol=0)
        torch.testing.assert_close(g["scores"], w["scores"], atol=1e-5, rtol=0)
    boxes = torch.cat([d["boxes"] for d in got])
    assert float(boxes.min()) >= 0 and float(boxes.max()) <= 64  # clipped to the image in the graph


def test_select_refuses_what_is_not_a_detector_output(detector, tmp_path):
    meta = read_metadata(export(detector, "onnx", tmp_path / "f.onnx", check_images=2).path)
    with pytest.raises(CnnlabError, match="not a cnnlab detector"):
        select(torch.zeros(1, 84, 15), {"task": "classify"})
    with pytest.raises(CnnlabError, match="does not match the metadata"):
        select(torch.zeros(1, 80, 15), meta)


def test_dense_detector_refuses_a_classifier():
    from cnnlab.models import create_model

    with pytest.raises(CnnlabError, match="not a detector"):
        DenseDetector(create_model("lenet5"), (1, 28, 28))


def test_predict_on_onnxruntime_finds_the_eager_boxes(detector, tmp_path, capsys):
    from PIL import Image

    from cnnlab.data import load_data

    image = tmp_path / "canvas.png"
    Image.fromarray(load_data("det-sample").test.images[0, 0].numpy()).save(image)
    found = {}
    for engine in ("eager", "onnxruntime"):
        assert main(["predict", str(detector), str(image), "--json", "--engine", engine, "--no-progress"]) == 0
        found[engine] = json.loads(capsys.readouterr().out)[0]["detections"]
    assert [d["class"] for d in found["onnxruntime"]] == [d["class"] for d in found["eager"]]
    for a, b in zip(found["onnxruntime"], found["eager"]):
        assert max(abs(u - v) for u, v in zip(a["box"], b["box"])) <= 0.02  # rounded to 0.01 px


def test_bench_times_the_detector_on_each_engine(detector, capsys):
    assert main(["bench", str(detector), "--tiny", "--engines", "eager:fp32,onnxruntime:fp32", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert set(rows) == {f"{e} fp32 forward{n}" for e in ("eager", "onnxruntime") for n in ("", " + NMS")}
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in rows.values())


def test_quantized_detector_is_scored_by_box_ap(detector, tmp_path, capsys):
    rep = quantize(detector, calibration=16, out=tmp_path / "fcos.int8.onnx", threads=1)
    assert rep.metric == "box AP" and rep.images == 16 and set(rep.secondary) == {"AP50"}
    assert read_metadata(rep.path)["task"] == "detect" and read_metadata(rep.path)["precision"] == "int8"
    # fp32's AP is what `cnnlab evaluate` reports on the same validation split
    assert main(["evaluate", str(detector), "--data", "det-sample", "--split", "val", "--json", "--no-plots"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["ap"] > 0
    assert rep.fp32_top1 * 100 == pytest.approx(metrics["ap"], abs=1e-9)
    assert rep.secondary["AP50"][0] * 100 == pytest.approx(metrics["ap50"], abs=1e-9)
    assert 0 <= rep.int8_top1 <= 1


def test_segmenter_export_and_quantize_speak_in_pixels(segmenter, tmp_path, capsys):
    rep = export(segmenter, "onnx", tmp_path / "fcn.onnx", check_images=4)
    assert rep.parity.agreement_of == "per-pixel class agreement" and read_metadata(rep.path)["task"] == "segment"
    q = quantize(segmenter, calibration=16, out=tmp_path / "fcn.int8.onnx", threads=1)
    assert q.metric == "mIoU" and "pixel accuracy" in q.secondary
    assert main(["evaluate", str(segmenter), "--data", "seg-sample", "--split", "val", "--json", "--no-plots"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert q.fp32_top1 * 100 == pytest.approx(metrics["miou"], abs=1e-6)
    assert q.secondary["pixel accuracy"][0] * 100 == pytest.approx(metrics["pixel_acc"], abs=1e-6)
    assert "mIoU on the validation split" in q.text() and "pixels given the same class" in q.text()


def test_segmentation_predict_refuses_an_engine_it_would_ignore(segmenter, tmp_path, capsys):
    from PIL import Image

    Image.new("L", (64, 64), 0).save(tmp_path / "blank.png")
    assert main(["predict", str(segmenter), str(tmp_path / "blank.png"), "--engine", "onnxruntime"]) == 2
    assert "eager fp32 PyTorch, at each image's own size" in capsys.readouterr().err
