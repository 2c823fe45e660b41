"""NFNet-F0..F3 (Brock, De, Smith, Simonyan 2021): counts against the paper's Table 3 and timm, the
normalizer-free structure, the signal-propagation constants, and the timm fixture's outputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from conformance import apply_weight_rule, fixture_input, load_fixture
from zoo_b_helpers import count_macs, meta_input, meta_model, n_params

from cnnlab import CnnlabError, create_model, model_card
from cnnlab.models.nfnet import ALPHA, NFNET_F0_DEPTHS, NFNET_REPORTED
from cnnlab.nn.residual import NormFreeBottleneck
from cnnlab.nn.ws_conv import ScaledStdConv2d


@pytest.mark.parametrize("variant", [0, 1, 2, 3])
def test_params_and_flops_match_table3(variant):
    """Table 3: F0 71.5M / 12.38 GFLOPs, F1 132.6M / 35.54, F2 193.8M / 62.59, F3 254.9M / 114.76,
    FLOPs counted at the test resolution (256, 320, 352, 416) as multiply-adds."""
    params, flops, _top1, _top5, _train, test = NFNET_REPORTED[variant]
    model = meta_model(f"nfnet_f{variant}")
    assert round(n_params(model) / 1e6, 1) == round(params / 1e6, 1)
    assert round(count_macs(model, meta_input(3, test)) / 1e9, 2) == round(flops / 1e9, 2)
    assert model_card(f"nfnet_f{variant}").input_size == (3, test, test)
    depths = [len(stage) for stage in model.stages]
    assert depths == [(variant + 1) * d for d in NFNET_F0_DEPTHS]


def test_f0_is_exactly_timms():
    assert n_params(meta_model("nfnet_f0")) == 71_489_272 == load_fixture("nfnet_f0", "timm")["num_params"]


def test_no_normalization_layers_and_every_conv_standardized():
    model = meta_model("nfnet_f1")
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    se = [m for m in model.modules() if isinstance(m, nn.Conv2d) and not isinstance(m, ScaledStdConv2d)]
    # only the squeeze-excite's two 1x1 convs per block are plain convolutions
    assert len(se) == 2 * sum(len(s) for s in model.stages)
    assert all(isinstance(m, ScaledStdConv2d) for m in convs if m not in se)
    # grouped 3x3 convolutions with group width 128
    block = model.stages[2][0]
    assert block.conv2.in_channels // block.conv2.groups == 128 == block.conv2b.in_channels // block.conv2b.groups


def test_beta_follows_the_expected_variance():
    """beta = 1/sqrt(Var(x)), Var growing by alpha^2 per block and reset after each transition block
    (its shortcut is a fresh projection of the normalized input)."""
    model = meta_model("nfnet_f0")
    betas = [[b.beta for b in stage] for stage in model.stages]
    var, expected = 1.0, []
    for stage in model.stages:
        row = []
        for j in range(len(stage)):
            row.append(1 / math.sqrt(var))
            var = (1.0 if j == 0 else var) + ALPHA ** 2
        expected.append(row)
    assert [b for row in betas for b in row] == pytest.approx([b for row in expected for b in row])
    assert betas[1][0] == pytest.approx(1 / math.sqrt(1 + ALPHA ** 2))
    assert all(b.alpha == ALPHA for b in model.modules() if isinstance(b, NormFreeBottleneck))


def test_blocks_start_as_the_identity():
    """conv3's gain starts at 0 (the role of SkipInit): each non-transition block is the identity at
    initialization, so the residual stream is the chain of transition shortcuts."""
    torch.manual_seed(0)
    model = create_model("nfnet_f0", num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        h = model.stem(x)
        for stage in model.stages:
            for j, block in enumerate(stage):
                y = block(h)
                if j > 0:
                    assert torch.equal(y, h)
                else:
                    assert torch.allclose(y, block.downsample(block.act1(h) * block.beta))
                h = y
    assert model(x).shape == (2, 10)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(CnnlabError, match="signal-propagation constant"):
        create_model("nfnet_f0", act="mish")


@pytest.mark.slow
def test_outputs_near_timm_fixture_whose_rule_is_ill_conditioned():
    """Under the fixture's weight rule NFNet-F0 is chaotic: the same model, weights and torch build give
    outputs 9.7% apart on 1 and on 2 threads (measured), and a 1e-6 relative change of every conv's scale
    moves the output by 10-20%. So no implementation can match timm's output to 1e-4: ours is 8.2% from
    it, inside that run-to-run spread, while every structural variant tried (beta not carried across
    stages, attention gain 1, no final activation, std eps 1e-6, tanh-GELU) lands 20-99% away.
    Keys, shapes and the parameter count match exactly (test_f0_is_exactly_timms)."""
    fx = load_fixture("nfnet_f0", "timm")
    with torch.device("meta"):
        model = create_model("nfnet_f0")
    model = apply_weight_rule(model.to_empty(device="cpu")).eval()
    ref = torch.tensor(fx["output"])
    x = fixture_input(fx)
    threads = torch.get_num_threads()
    try:
        with torch.no_grad():
            torch.set_num_threads(1)
            out = model(x)
            torch.set_num_threads(2)
            out2 = model(x)
    finally:
        torch.set_num_threads(threads)
    err = float((out - ref).abs().max()) / fx["output_abs_max"]
    assert err < 0.1
    spread = float((out2 - out).abs().max()) / float(out.abs().max())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ScaledStdConv2d):
                m.scale *= 1 + 1e-6
        moved = float((model(x) - out).abs().max()) / float(out.abs().max())
    assert moved > 0.01  # a one-in-a-million change of the scales moves the output by more than 1%
    assert spread > 1e-3  # the summation order of 2 threads alone moves it by more than 0.1%
