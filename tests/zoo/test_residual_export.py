"""TorchScript for one network of each residual / dense family, ONNX for the weight-standardized block
(``var_mean`` inside the forward: timm's NFNet once failed to export, pytorch-image-models #442)."""

from __future__ import annotations

import warnings

import pytest
import torch

from cnnlab import create_model
from cnnlab.models.densenet import DenseNet
from cnnlab.nn.residual import NormFreeBottleneck


@pytest.mark.parametrize(
    "name,kw,side",
    [
        ("resnet18", {}, 32),
        ("se_resnet50", dict(stride_in="1x1", drop_path_rate=0.1), 32),
        ("preact_resnet18", {}, 32),
        ("plain20", {}, 16),
        ("nfnet_f0", {}, 32),
    ],
)
def test_torchscript_matches_eager(name, kw, side):
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, **kw).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5, rtol=1e-4)
        assert torch.allclose(
            scripted.forward_head(scripted.forward_features(x), True),
            model.forward_head(model.forward_features(x), pre_logits=True),
            atol=1e-5,
            rtol=1e-4,
        )


def test_torchscript_densenet():
    torch.manual_seed(0)
    model = DenseNet(8, (2, 3), 16, num_classes=4).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(torch.jit.script(model)(x), model(x), atol=1e-6)


def test_onnx_export_of_the_normalizer_free_block(tmp_path):
    import onnxruntime as ort

    torch.manual_seed(0)
    block = NormFreeBottleneck(64, 128, 2, group_size=32, beta=0.9).eval()
    with torch.no_grad():
        block.conv3.gain.fill_(1.0)  # a live branch (it starts at 0)
    x = torch.randn(1, 64, 8, 8)
    path = tmp_path / "nf_block.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(block, (x,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = block(x).numpy()
    assert got.shape == want.shape == (1, 128, 4, 4)
    assert float(abs(got - want).max()) <= 1e-4 * max(1.0, float(abs(want).max()))
