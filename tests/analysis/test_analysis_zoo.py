"""The zoo against torchvision: multiply-adds equal its published figures, parameters its fixtures.

torchvision publishes, per weight, ``_ops`` = "GFLOPS" in its model table, which are multiply-adds
(analyzer-anchors.md section 0: conv + linear MACs without bias), at the evaluation resolution of the
weights (EfficientNet-B2 at 288, B7 at 600, Inception-v3 at 299). Three decimals where the anchors
read them from the weight metadata, two where only the documentation table was checked (the doc
page for EfficientNet-B2 reads "num_params 9109994, GFLOPS 1.09").

The parametrization is explicit on purpose: a name not (yet) registered in the zoo fails here with
the closest registered names instead of being skipped.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path

import pytest

from cnnlab.analysis import summary

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "torchvision"

# (name, input side, torchvision's published GFLOPS = GMACs)
TORCHVISION = [
    ("alexnet", 224, "0.714"),
    ("vgg11", 224, "7.61"),
    ("vgg11_bn", 224, "7.61"),
    ("vgg13", 224, "11.31"),
    ("vgg13_bn", 224, "11.31"),
    ("vgg16", 224, "15.47"),
    ("vgg16_bn", 224, "15.47"),
    ("vgg19", 224, "19.63"),
    ("vgg19_bn", 224, "19.63"),
    ("googlenet", 224, "1.498"),
    ("inception_v3", 299, "5.71"),
    ("resnet18", 224, "1.814"),
    ("resnet34", 224, "3.664"),
    ("resnet50", 224, "4.089"),
    ("resnet101", 224, "7.80"),
    ("resnet152", 224, "11.51"),
    ("resnext50_32x4d", 224, "4.23"),
    ("resnext101_32x8d", 224, "16.41"),
    ("wide_resnet50_2", 224, "11.40"),
    ("wide_resnet101_2", 224, "22.75"),
    ("densenet121", 224, "2.83"),
    ("densenet161", 224, "7.73"),
    ("densenet169", 224, "3.36"),
    ("densenet201", 224, "4.29"),
    ("mobilenet_v2", 224, "0.301"),
    ("mobilenet_v3_large", 224, "0.22"),
    ("mobilenet_v3_small", 224, "0.06"),
    ("shufflenet_v2_x0_5", 224, "0.04"),
    ("shufflenet_v2_x1_0", 224, "0.14"),
    ("shufflenet_v2_x1_5", 224, "0.30"),
    ("shufflenet_v2_x2_0", 224, "0.58"),
    ("efficientnet_b0", 224, "0.386"),
    ("efficientnet_b1", 240, "0.69"),
    ("efficientnet_b2", 288, "1.09"),
    ("efficientnet_b3", 300, "1.83"),
    ("efficientnet_b4", 380, "4.39"),
    ("efficientnet_b5", 456, "10.27"),
    ("efficientnet_b6", 528, "19.07"),
    ("efficientnet_b7", 600, "37.75"),
    ("efficientnet_v2_s", 384, "8.37"),
    ("efficientnet_v2_m", 480, "24.58"),
    ("efficientnet_v2_l", 480, "56.08"),
    ("vit_b_16", 224, "17.56"),
    ("vit_b_32", 224, "4.41"),
    ("vit_l_16", 224, "61.55"),
]

# every fixture in ../shared/reference/torchvision (explicit, see the module docstring)
FIXTURES = [
    "alexnet",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
    "googlenet",
    "inception_v3",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "resnet101",
    "resnet152",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext101_32x8d",
    "resnext50_32x4d",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vit_b_16",
    "vit_b_32",
    "vit_l_16",
    "wide_resnet101_2",
    "wide_resnet50_2",
]

# built by the fixtures without auxiliary classifiers (aux_logits=False); cnnlab may define them,
# and in eval mode they do not run
AUX = {"googlenet", "inception_v3"}


@cache
def _summary(name: str, side: int | None = None):
    return summary(name, input_size=side)


def test_fixture_list_is_complete():
    assert sorted(p.stem for p in REFERENCE.glob("*.json")) == sorted(FIXTURES)


@pytest.mark.parametrize("name, side, published", TORCHVISION, ids=[t[0] for t in TORCHVISION])
def test_macs_equal_torchvision_published(name, side, published):
    s = _summary(name, side)
    decimals = len(published.split(".")[1])
    assert round(s.macs / 1e9, decimals) == float(published), f"{name}: {s.macs:,} MACs"
    assert s.uncounted == [], name
    assert s.device == "meta"


@pytest.mark.parametrize("name", FIXTURES)
def test_params_equal_fixture(name):
    fx = json.loads((REFERENCE / f"{name}.json").read_text())
    s = _summary(name, fx["input"][-1])
    run = s.params.total - s.params.unused
    if name in AUX:
        assert run == fx["num_params"], f"{name}: {s.params.total:,} total, {s.params.unused:,} not run"
    else:
        assert s.params.total == fx["num_params"] and s.params.unused == 0, name
    assert sum(r.params for r in s.layers) == run
    # the output is the classifier's, and one batch of the fixture's size costs twice one image
    assert s.output_shape == (len(fx["output"][0]),)


def test_biggest_networks_cost_no_compute():
    """ViT-L/16 and EfficientNet-B7 at 600 x 600, batch 256: shape-only, well under a second on a quiet
    2-core machine (benchmarks/analyzer_speed.py); the bound here is loose for a shared CI box."""
    summary("lenet5")  # first use of the meta device loads PyTorch's meta kernels: not the analyzer's cost
    t = time.perf_counter()
    vit = summary("vit_l_16")
    b7 = summary("efficientnet_b7", input_size=600, batch=256)
    elapsed = time.perf_counter() - t
    assert vit.device == b7.device == "meta"
    assert round(b7.macs / 256 / 1e9, 2) == 37.75
    assert b7.memory.peak_bytes > 10 * 1024**3  # it would need > 10 GB of activations if it computed
    assert elapsed < 8.0


def test_googlenet_auxiliary_heads_are_defined_but_not_run_in_eval():
    """torchvision's googlenet(weights=None) has aux heads: 13,004,888 parameters everywhere, of which
    6,379,984 never run in eval (old thop printed 6.62 M; every other tool 13.00 M silently)."""
    import torch

    import cnnlab

    with torch.device("meta"):
        m = cnnlab.create_model("googlenet", aux_logits=True)
    s = summary(m)
    assert (s.params.total, s.params.unused, s.params.unused_modules) == (13_004_888, 6_379_984, ["aux1", "aux2"])
    assert round(s.macs / 1e9, 3) == 1.498
    t = summary(m, mode="train", batch=2)
    assert t.params.unused == 0 and t.macs > 2 * s.macs  # the heads run in training


def test_vit_receptive_field_patch_then_everything():
    """ViT: the patch embedding sees 16 x 16 with jump 16 (also through the class-token concatenation
    and the position embedding add); after the first self-attention every token sees the image."""
    s = summary("vit_b_16", depth=2)
    assert s.layer("conv_proj").rf.text() == "16 (16)" and s.layer("encoder.add").rf.text() == "16 (16)"
    assert s.layer("encoder.layers").rf.is_global
    assert s.layer("expand").params == 768 and s.layer("encoder.add").params == 197 * 768  # class token, pos


# timm fixtures (../shared/reference/timm) for the networks torchvision lacks: fixture -> cnnlab name
TIMM = [
    ("seresnet50", "se_resnet50"),
    ("inception_v4", "inception_v4"),
    ("inception_resnet_v2", "inception_resnet_v2"),
    ("mobilenetv1_100", "mobilenet_v1"),
    ("nfnet_f0", "nfnet_f0"),
]


@pytest.mark.parametrize("fixture, name", TIMM, ids=[t[1] for t in TIMM])
def test_params_equal_timm_fixture(fixture, name):
    fx = json.loads((REFERENCE.parent / "timm" / f"{fixture}.json").read_text())
    s = _summary(name, fx["input"][-1])
    assert s.params.total == fx["num_params"] and s.params.unused == 0
    assert s.uncounted == [] and s.device == "meta"


@pytest.mark.parametrize("name, rf", [("alexnet", 195), ("vgg16", 212), ("inception_v3", 1311), ("mobilenet_v2", 491)])
def test_receptive_fields_match_araujo_et_al(name, rf):
    """Receptive field of the last spatial feature map, as tabulated by Araujo, Norris & Sim 2019,
    "Computing Receptive Fields of Convolutional Neural Networks" (Distill), for the TF-slim versions
    of these networks (the same kernels and strides; padding does not change the size)."""
    s = summary(name, depth=1)
    last = [r for r in s.layers if r.rf is not None and not r.rf.is_global][-1]
    assert last.rf.size == (rf, rf) and last.rf.jump == (32, 32)
