"""One runner interface over the engines; `auto` measures once and caches; bench side by side."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from cnnlab.cli import main
from cnnlab.deploy import load_source, make_runner
from cnnlab.deploy.bench import bench, parse_configs
from cnnlab.deploy.engines import engine_available
from cnnlab.errors import CnnlabError

HAVE_OV = importlib.util.find_spec("openvino") is not None


@pytest.fixture(scope="module")
def model_and_input():
    torch.manual_seed(0)
    src = load_source("resnet20")
    return src.model.eval(), torch.randn(4, 3, 32, 32)


@pytest.mark.parametrize(
    "engine,precision,rtol",
    [
        ("eager", "fp32", 0),
        ("onnxruntime", "fp32", 1e-4),
        pytest.param("openvino", "fp32", 1e-4, marks=pytest.mark.skipif(not HAVE_OV, reason="OpenVINO not installed")),
        ("eager", "bf16", 5e-2),
        pytest.param("openvino", "bf16", 5e-2, marks=pytest.mark.skipif(not HAVE_OV, reason="OpenVINO not installed")),
    ],
)
def test_runners_agree_with_eager_fp32(model_and_input, engine, precision, rtol):
    model, x = model_and_input
    with torch.no_grad():
        ref = model(x)
    run = make_runner(model, engine, precision, example=x[:1])
    out = run(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert float((out - ref).abs().max()) <= rtol * float(ref.abs().max()) + 1e-7
    assert run(x[:1]).shape == (1, 10)  # another batch size through the same runner


def test_int8_runner_needs_calibration_and_stays_close(model_and_input):
    model, x = model_and_input
    with pytest.raises(CnnlabError, match="calibration"):
        make_runner(model, "onnxruntime", "int8", example=x[:1])
    run = make_runner(model, "onnxruntime", "int8", example=x[:1], calibration=torch.randn(16, 3, 32, 32))
    with torch.no_grad():
        ref = model(x)
    assert float((run(x) - ref).abs().max()) <= 0.25 * float(ref.abs().max())


def test_bad_engine_and_precision_are_errors(model_and_input):
    model, _ = model_and_input
    with pytest.raises(CnnlabError, match="unknown engine 'tensorrt'"):
        make_runner(model, "tensorrt")
    with pytest.raises(CnnlabError, match="onnxruntime does not run bf16"):
        make_runner(model, "onnxruntime", "bf16")
    with pytest.raises(CnnlabError, match="model file not found"):
        make_runner("missing.onnx", "onnxruntime")


def test_missing_engine_is_reported_not_faked(monkeypatch, model_and_input):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    ok, msg = engine_available("openvino")
    assert not ok and "pip install 'cnnlab[deploy]'" in msg
    with pytest.raises(CnnlabError, match="openvino is not installed"):
        make_runner(model_and_input[0], "openvino")
    res = bench("lenet5", batch=2, engines="eager:fp32,openvino:fp32", tiny=True, threads=1)
    assert res.rows[1].skipped.startswith("openvino is not installed")
    assert "skipped: openvino is not installed" in res.text()


def test_auto_measures_once_and_caches(tmp_path, monkeypatch, model_and_input):
    monkeypatch.setenv("CNNLAB_HOME", str(tmp_path))
    model, x = model_and_input
    first = make_runner(model, "auto", batch=2, example=x[:1], threads=1)
    cache = json.loads((tmp_path / "engine-choice.json").read_text())
    (entry,) = cache.values()
    assert entry["engine"] == first.engine and set(entry["measured"]) >= {"eager", "onnxruntime"}
    assert first.note.startswith("auto: ")
    second = make_runner(model, "auto", batch=2, example=x[:1], threads=1)
    assert second.engine == first.engine and "cached choice" in second.note
    with torch.no_grad():
        assert torch.allclose(second(x), model(x), atol=1e-3 * float(model(x).abs().max()))


def test_parse_configs():
    assert parse_configs("onnxruntime:int8,openvino:bf16") == [
        ("eager", "fp32"),
        ("onnxruntime", "int8"),
        ("openvino", "bf16"),
    ]
    assert parse_configs("compile") == [("eager", "fp32"), ("compile", "fp32"), ("compile", "bf16")]
    with pytest.raises(CnnlabError, match="does not run int8"):
        parse_configs("eager:int8")


def test_bench_tiny_cli(capsys):
    """`cnnlab bench MODEL --tiny`: every installed non-compile engine, one table, same inputs."""
    assert main(["bench", "lenet5", "--tiny"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("engine"))
    for col in ("b1 p50 ms", "b1 p95 ms", "b4 img/s", "x eager fp32", "max|diff|/max|logit|", "top-1 agree"):
        assert col in header
    rows = {tuple(line.split()[:2]) for line in lines if line.split()[:1] in (["eager"], ["onnxruntime"], ["openvino"])}
    assert {("eager", "fp32"), ("eager", "bf16"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")} <= rows
    eager = next(line for line in lines if line.startswith("eager") and " fp32 " in line)
    assert "1.00x" in eager and "0.0e+00" in eager and "100.0%" in eager
    ort = next(line for line in lines if line.startswith("onnxruntime") and " fp32 " in line)
    rel = float(ort.split()[6])
    assert rel < 1e-4  # the agreement column: fp32 ONNX Runtime matches eager PyTorch


@pytest.mark.slow
def test_compile_runner_agrees_with_eager():
    """torch.compile (Inductor) compiles per input shape: 10-40 s on a quiet 2-core machine."""
    src = load_source("lenet5")
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        ref = src.model(x)
    out = make_runner(src.model, "compile", "fp32")(x)
    assert float((out - ref).abs().max()) <= 1e-4 * float(ref.abs().max())


def test_a_bare_vit_gets_a_nonzero_head_so_bf16_differs_from_fp32():
    """The ViT's classifier starts at zero (as torchvision's): on random weights every logit would be 0
    and bf16 would 'agree' with fp32 exactly. bench gives such layers small random weights first."""
    from cnnlab.deploy.source import randomize_zero_layers
    from cnnlab.models import create_model

    model = create_model("vit_ti_4_32", num_classes=10)
    assert not model.heads.head.weight.any()
    assert randomize_zero_layers(model) == ["heads.head"]
    assert model.heads.head.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert randomize_zero_layers(model) == []  # nothing else is all zero; a second call changes nothing

    res = bench("vit_ti_4_32", batch=2, engines="eager:fp32,eager:bf16", tiny=True, threads=1)
    assert any("heads.head got small random weights" in n for n in res.notes)
    assert 0 < res.rows[1].rel_diff < 0.1
