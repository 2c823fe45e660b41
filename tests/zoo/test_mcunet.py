"""MCUNet: the block tables reproduce the published multiply-adds and parameter counts
(mit-han-lab/mcunet README, Model List: MACs to 0.1M, params to 0.01M)."""

from __future__ import annotations

import pytest
import torch

from cnnlab import create_model, model_card
from cnnlab.models.mcunet import MCUNET_IN3, MCUNET_VARIANTS

from helpers.efficient_counting import macs, meta, n_params

# name -> (published MACs in millions, published params in millions, input side)
PUBLISHED = {
    "mcunet_10fps": (6.4, 0.75, 48),
    "mcunet_5fps": (12.8, 0.64, 96),
    "mcunet_256kb": (67.3, 0.73, 160),
    "mcunet": (81.8, 0.74, 176),
    "mcunet_512kb": (125.9, 1.73, 160),
    "mcunet_vww": (55.8, 0.64, 144),
}


def test_every_variant_is_checked():
    assert set(PUBLISHED) == set(MCUNET_VARIANTS)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_macs_and_params(name):
    paper_macs, paper_params, side = PUBLISHED[name]
    model = meta(create_model, name)
    assert model_card(name).input_size == (3, side, side) == model.default_input_size
    assert round(macs(model, side) / 1e6, 1) == paper_macs
    assert round(n_params(model) / 1e6, 2) == paper_params


def test_320kb_network_structure():
    """The released config: 16-channel stem, 18 inverted residual blocks with kernels 3/5/7 and
    expansions 1-6, 160 channels into the classifier, no 1x1 head conv; residual where shapes allow."""
    model = meta(create_model, "mcunet")
    blocks = list(model.features)[1:]
    assert len(blocks) == len(MCUNET_IN3["blocks"]) == 18
    kernels = {b.conv[-3][0].kernel_size[0] for b in blocks}
    assert kernels == {3, 5, 7}
    assert model.get_classifier().in_features == 160
    assert sum(b.use_res_connect for b in blocks) == 11  # the config's 11 IdentityLayer shortcuts
    assert model.feature_info[-1]["reduction"] == 32


def test_vww_is_binary_and_runs():
    torch.manual_seed(0)
    model = create_model("mcunet_vww").eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 144, 144))
    assert out.shape == (2, 2) and torch.isfinite(out).all()


def _official_state_dict(model) -> dict[str, torch.Tensor]:
    """The model's tensors under the authors' ProxylessNASNets names (mit-han-lab/tinyml,
    tinynas/nn/modules/layers.py: ConvLayer conv/bn, MBInvertedConvLayer inverted_bottleneck /
    depth_conv / point_linear, LinearLayer linear)."""
    sd = model.state_dict()
    out = {}
    bn_keys = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

    def put(official: str, ours_conv: str, ours_bn: str) -> None:
        out[f"{official}.conv.weight"] = sd[f"{ours_conv}.weight"]
        for k in bn_keys:
            out[f"{official}.bn.{k}"] = sd[f"{ours_bn}.{k}"]

    put("first_conv", "features.0.0", "features.0.1")
    for i, block in enumerate(list(model.features)[1:]):
        prefix, ours = f"blocks.{i}.mobile_inverted_conv", f"features.{i + 1}.conv"
        if len(block.conv) == 4:
            put(f"{prefix}.inverted_bottleneck", f"{ours}.0.0", f"{ours}.0.1")
            put(f"{prefix}.depth_conv", f"{ours}.1.0", f"{ours}.1.1")
            put(f"{prefix}.point_linear", f"{ours}.2", f"{ours}.3")
        else:
            put(f"{prefix}.depth_conv", f"{ours}.0.0", f"{ours}.0.1")
            put(f"{prefix}.point_linear", f"{ours}.1", f"{ours}.2")
    out["classifier.linear.weight"], out["classifier.linear.bias"] = sd["classifier.1.weight"], sd["classifier.1.bias"]
    return out


def test_authors_checkpoint_layout_loads(tmp_path):
    """A checkpoint in the authors' layout ({'state_dict': ...} with ProxylessNASNets keys) loads
    through load_weights and reproduces the source network's outputs."""
    from cnnlab import load_weights

    from helpers.conformance import apply_weight_rule

    source = apply_weight_rule(create_model("mcunet_5fps")).eval()
    official = _official_state_dict(source)
    assert len(official) == len(source.state_dict())
    path = tmp_path / "mcunet-5fps_imagenet.pth"
    torch.save({"state_dict": official}, path)
    model = create_model("mcunet_5fps").eval()
    load_weights(model, str(path))
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), source(x), atol=1e-5)
