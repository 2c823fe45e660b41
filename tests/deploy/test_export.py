"""Export contract: every model family (one representative per file in src/cnnlab/models/) exports to
ONNX and round-trips through TorchScript with fp32 agreement, its preprocessing metadata readable back;
a wrong file is refused and the diverging layer named."""

from __future__ import annotations

import importlib
import json

import numpy as np
import onnx
import pytest
import torch

from cnnlab.cli import main
from cnnlab.deploy import export, load_source, read_metadata
from cnnlab.deploy.engines import make_runner
from cnnlab.deploy.export import PARITY_RTOL, find_diverging_layer, onnx_bytes
from cnnlab.errors import CnnlabError
from cnnlab.models import get_entry, list_models

# family file -> (representative, small input C x H x W). The default run covers the building blocks
# (plain conv + pooling, batch norm, residual adds, depthwise, squeeze-excite with hardswish, channel
# shuffle, whitening conv); every family runs with `-m slow` (a few seconds each on a quiet machine,
# 30-60 s for the 40-130M-parameter ones)
FAMILIES = {
    "airbench": ("airbench", "3x32x32"),
    "lenet": ("lenet5", "1x28x28"),
    "cifar_resnet": ("resnet20", "3x32x32"),
    "resnet": ("resnet18", "3x32x32"),
    "preact_resnet": ("preact_resnet18", "3x32x32"),
    "densenet": ("densenet121", "3x32x32"),
    "mobilenet": ("mobilenet_v3_small", "3x32x32"),
    "shufflenet": ("shufflenet_v2_x0_5", "3x32x32"),
    "mcunet": ("mcunet_10fps", "3x48x48"),
    "efficientnet": ("efficientnet_b0", "3x32x32"),
    "googlenet": ("googlenet", "3x64x64"),
    "nin": ("nin", "3x128x128"),
    "vit": ("vit_ti_4_32", "3x32x32"),
    "inception": ("inception_v3", "3x75x75"),
    "inception_v4": ("inception_v4", "3x75x75"),
    "alexnet": ("alexnet", "3x63x63"),
    "vgg": ("vgg11", "3x32x32"),
    "nfnet": ("dm_nfnet_f0", "3x32x32"),
    "cifar_vgg": ("cifar_vgg11", "3x32x32"),
    "linear": ("mlp", "1x28x28"),
    "bn_inception": ("bn_inception", "3x64x64"),
}
FAST = {"airbench", "lenet", "cifar_resnet", "mobilenet", "shufflenet", "mcunet", "cifar_vgg", "linear"}
SLOW = set(FAMILIES) - FAST
BIG = {"inception", "inception_v4", "alexnet", "vgg", "nfnet"}  # no TorchScript round trip (size)


def test_every_family_file_has_a_representative():
    files = {
        get_entry(m).builder.__module__.rsplit(".", 1)[-1]
        for m in list_models()
        if get_entry(m).card.task == "classify"
    }  # detectors: tests/detect
    assert files == set(FAMILIES), f"families without an export test: {files - set(FAMILIES)}"


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW else f for f in FAMILIES])
def test_family_exports_to_onnx_and_torchscript(family, tmp_path):
    name, size = FAMILIES[family]
    torch.manual_seed(0)
    src = load_source(name, num_classes=10, input_size=size)
    rep = export(None, "onnx", tmp_path / "m.onnx", source=src, check_images=3)
    assert rep.parity.ok and rep.parity.rel_diff <= PARITY_RTOL
    meta = read_metadata(tmp_path / "m.onnx")
    assert meta["model"] == name and meta["input_size"] == [int(v) for v in size.split("x")]
    assert meta["classes"] == [str(i) for i in range(10)] and len(meta["mean"]) == meta["input_size"][0]
    # dynamic batch: a batch of 3 through ONNX Runtime, compared here independently of export()
    x = torch.randn(3, *meta["input_size"])
    with torch.no_grad():
        ref = src.model.eval()(x)
    out = make_runner(tmp_path / "m.onnx", "onnxruntime")(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) <= PARITY_RTOL * max(float(ref.abs().max()), 1e-6)
    if family in BIG:
        return
    rep = export(None, "torchscript", tmp_path / "m.pt", source=src, check_images=2)
    assert rep.parity.max_abs_diff <= PARITY_RTOL * max(rep.parity.max_abs_logit, 1e-6)
    assert read_metadata(tmp_path / "m.pt")["model"] == name


def test_openvino_export_metadata_and_parity(tmp_path):
    pytest.importorskip("openvino", reason="OpenVINO is optional (pip install 'cnnlab[deploy]')")
    src = load_source("resnet20", input_size="3x32x32")
    rep = export(None, "openvino", tmp_path / "r.xml", source=src, check_images=4)
    assert (tmp_path / "r.bin").is_file() and rep.size_bytes > 4 * 270_000  # fp32 weights kept
    meta = read_metadata(tmp_path / "r.xml")
    assert meta["model"] == "resnet20" and meta["format"] == "openvino" and meta["channel_order"] == "RGB"
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        ref = src.model(x)
    assert torch.allclose(make_runner(tmp_path / "r.xml", "openvino")(x), ref, atol=1e-4 * float(ref.abs().max()))


def test_fixed_batch_onnx_has_that_batch(tmp_path):
    src = load_source("lenet5")
    export(None, "onnx", tmp_path / "b4.onnx", source=src, batch=4)
    dims = onnx.load(str(tmp_path / "b4.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [4, 1, 28, 28]
    assert read_metadata(tmp_path / "b4.onnx")["batch"] == 4


def test_diverging_layer_is_named(tmp_path):
    """Corrupt one convolution's weights in the ONNX file: the search names that layer (and not the
    convolutions before it, whose outputs still agree, nor the batch norm folded into them)."""
    torch.manual_seed(0)
    model = load_source("resnet20").model.eval()
    x = torch.randn(1, 3, 32, 32)
    proto = onnx.load_from_string(onnx_bytes(model, x))
    conv = next(n for n in proto.graph.node if n.name == "/layer2/layer2.0/conv2/Conv")
    init = next(i for i in proto.graph.initializer if i.name == conv.input[1])
    w = onnx.numpy_helper.to_array(init).copy()
    w[0] += 0.5
    init.CopyFrom(onnx.numpy_helper.from_array(w, init.name))
    path = tmp_path / "bad.onnx"
    path.write_bytes(proto.SerializeToString())
    name, detail = find_diverging_layer(model, path, x, PARITY_RTOL)
    assert name == "layer2.0.conv2" and detail.startswith("Conv2d")


def test_export_refuses_and_deletes_a_wrong_file(tmp_path, monkeypatch):
    """A parity failure is an error naming the layer, and the file is not left behind."""
    ex = importlib.import_module("cnnlab.deploy.export")  # the package exports a function of that name

    real = ex.onnx_bytes

    def corrupt(model, example, batch="dynamic", notes=None):
        proto = onnx.load_from_string(real(model, example, batch, notes))
        conv = next(n for n in proto.graph.node if n.name == "/features/c3/Conv")
        init = next(i for i in proto.graph.initializer if i.name == conv.input[1])
        init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init) * 3, init.name))
        return proto.SerializeToString()

    monkeypatch.setattr(ex, "onnx_bytes", corrupt)
    with pytest.raises(CnnlabError, match=r"first layer that diverges is features.c3 \(Conv2d"):
        export("lenet5", "onnx", tmp_path / "l.onnx")
    assert not (tmp_path / "l.onnx").exists()


def test_cli_export_prints_parity_and_writes_metadata(tmp_path, capsys):
    assert main(["export", "lenet5", "-o", str(tmp_path / "l.onnx")]) == 0
    out = capsys.readouterr().out
    assert "parity vs eager PyTorch on 16 random normal inputs: max |diff|" in out and "top-1 agreement" in out
    assert json.loads(onnx.load(str(tmp_path / "l.onnx")).metadata_props[0].value) is not None
    assert main(["export", "lenet5", "--format", "torchscript", "-o", str(tmp_path / "l.onnx")]) == 2
    assert "must end in .pt" in capsys.readouterr().err
    assert main(["export", "lenet55"]) == 2
    assert "lenet5" in capsys.readouterr().err


def test_export_of_a_trained_run_checks_real_images(trained_run, tmp_path):
    rep = export(trained_run, "onnx", tmp_path / "run.onnx", check_images=8)
    assert "8 held-out images of mnist-sample" == rep.parity.images
    meta = read_metadata(tmp_path / "run.onnx")
    saved = load_source(trained_run).meta
    assert meta["mean"] == saved["mean"] and meta["classes"] == saved["classes"] and meta["background"] == "dark"
    assert rep.parity.top1_agreement == 1.0 and np.isfinite(rep.parity.max_abs_diff)
