"""The shared residual, dense and weight-standardized blocks (cnnlab.nn.residual / dense / ws_conv)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import CnnlabError
from cnnlab.conv.arithmetic import conv_output_size
from cnnlab.nn.dense import DenseBlock, DenseLayer, Transition
from cnnlab.nn.residual import (
    BasicBlock,
    Bottleneck,
    PreActBasic,
    PreActBottleneck,
    ZeroPadShortcut,
    drop_path_rates,
    make_shortcut,
)
from cnnlab.nn.ws_conv import ACTIVATION_GAMMA, ScaledStdConv2d

from helpers.zoo_b_helpers import count_macs, meta_input, n_params


# -- cost of the blocks (lecture 004, "Residual Networks: Bottleneck Block") ----------------------
@pytest.mark.parametrize("c,hw", [(64, 56), (128, 28), (256, 14)])
def test_basic_block_costs_18HWC2(c, hw):
    """Two 3x3 convolutions C -> C: 9HWC^2 each, 18HWC^2 in total."""
    block = BasicBlock(c, c).to("meta")
    assert count_macs(block, meta_input(c, hw)) == 18 * hw * hw * c * c


@pytest.mark.parametrize("c,hw", [(64, 56), (128, 28), (256, 14)])
def test_bottleneck_block_costs_17HWC2(c, hw):
    """4C -> 1x1 -> C -> 3x3 -> C -> 1x1 -> 4C: 4HWC^2 + 9HWC^2 + 4HWC^2 = 17HWC^2."""
    block = Bottleneck(4 * c, c).to("meta")
    assert count_macs(block, meta_input(4 * c, hw)) == 17 * hw * hw * c * c
    # lecture 004: 256 maps through 64-wide bottleneck: 16K + 36K + 16K ~ 70K per pixel (vs ~600K)
    if c == 64:
        assert 17 * c * c == 256 * 64 + 64 * 64 * 9 + 64 * 256 == 69_632


@pytest.mark.parametrize("groups,d", [(32, 4), (4, 24)])
def test_resnext_block_cost_is_about_17HWC2(groups, d):
    """Lecture 004 writes G(4HWcC + 9HWc^2 + 4HWcC) = 17HWC^2 with C=64 and (G, c) = (32, 4) or (4, 24).

    The block really costs G(8HWcC + 9HWc^2); the lecture's '=' is an approximation (Xie et al. 2017,
    Fig. 1 says '~70k'): 70,144 and 69,888 multiply-adds per pixel against 17 x 64^2 = 69,632.
    """
    c, hw = 64, 14
    block = Bottleneck(4 * c, c, groups=groups, base_width=d * 64 // c).to("meta")
    assert block.conv2.groups == groups and block.conv2.in_channels == groups * d
    macs = count_macs(block, meta_input(4 * c, hw))
    assert macs == groups * (8 * hw * hw * d * c + 9 * hw * hw * d * d)
    per_pixel = macs // (hw * hw)
    assert per_pixel == {32: 70_144, 4: 69_888}[groups] != 17 * c * c
    assert abs(per_pixel - 17 * c * c) / (17 * c * c) < 0.01


def test_bottleneck_stride_position():
    v15, v1 = Bottleneck(256, 128, 2), Bottleneck(256, 128, 2, stride_in="1x1")
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    assert [p.shape for p in v15.parameters()] == [p.shape for p in v1.parameters()]
    # v1 runs its first 1x1 on the subsampled grid: v1.5 pays that 1x1 on 4x the pixels (why the paper's
    # ResNet-50 is 3.8 GFLOPs and torchvision's 4.1)
    x = meta_input(256, 28)
    assert count_macs(v15.to("meta"), x) - count_macs(v1.to("meta"), x) == 256 * 128 * (28 * 28 - 14 * 14)
    with pytest.raises(CnnlabError, match="stride position"):
        Bottleneck(64, 64, stride_in="2x2")


# -- shortcuts (He et al. 2015, section 3.3) -------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(c_in=st.integers(1, 8), extra=st.integers(0, 8), stride=st.sampled_from([1, 2]), size=st.integers(1, 9))
def test_zero_pad_shortcut_is_subsampled_identity_plus_zero_channels(c_in, extra, stride, size):
    sc = ZeroPadShortcut(c_in, c_in + extra, stride)
    x = torch.randn(2, c_in, size, size)
    y = sc(x)
    out = conv_output_size(size, 3, stride, 1)  # the same grid as the block's 3x3 stride-s convolution
    assert y.shape == (2, c_in + extra, out, out)
    assert torch.equal(y[:, :c_in], x[:, :, ::stride, ::stride])
    assert not y[:, c_in:].any()
    assert n_params(sc) == 0


def test_shortcut_choice():
    assert make_shortcut("B", 64, 64, 1) is None and make_shortcut("A", 64, 64, 1) is None
    proj = make_shortcut("B", 64, 128, 2)
    assert isinstance(proj[0], nn.Conv2d) and proj[0].stride == (2, 2) and isinstance(proj[1], nn.BatchNorm2d)
    assert len(make_shortcut("B", 64, 128, 2, norm=False)) == 1
    assert make_shortcut("C", 64, 64, 1) is not None  # option C: a projection even where shapes match
    with pytest.raises(CnnlabError, match="shortcut"):
        make_shortcut("D", 64, 128, 2)
    with pytest.raises(CnnlabError, match="cannot reduce"):
        ZeroPadShortcut(32, 16, 1)


def test_plain_twin_has_the_same_parameters_and_no_shortcut():
    torch.manual_seed(0)
    res = BasicBlock(16, 32, 2, shortcut="A").eval()
    plain = BasicBlock(16, 32, 2, shortcut="A", residual=False).eval()
    plain.load_state_dict(res.state_dict())  # strict: identical keys and shapes
    assert plain.downsample is None and isinstance(res.downsample, ZeroPadShortcut)
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        branch = res.residual_branch(x)
        assert torch.allclose(plain(x), torch.relu(branch))
        assert torch.allclose(res(x), torch.relu(branch + res.downsample(x)))


def test_zero_residual_branch_makes_the_block_the_identity():
    """Lecture 004: 'If these are set to 0, the whole block will compute the identity function'
    (for the post-activation block: relu(x), the identity on the non-negative maps it receives)."""
    torch.manual_seed(0)
    x = torch.relu(torch.randn(2, 64, 8, 8))
    for block in (BasicBlock(64, 64), Bottleneck(256, 64)):
        block.zero_init_last()
        block.eval()
        xin = x if block.conv1.in_channels == 64 else torch.relu(torch.randn(2, 256, 8, 8))
        with torch.no_grad():
            assert torch.equal(block(xin), xin)
    for block in (PreActBasic(64, 64), PreActBottleneck(256, 64)):  # pre-activation: exact identity for any x
        block.zero_init_last()
        xin = torch.randn(2, block.conv1.in_channels, 8, 8)
        with torch.no_grad():
            assert torch.equal(block.eval()(xin), xin)


def test_preact_block_adds_without_activation():
    """He et al. 2016, eq. 3-4: x_{l+1} = x_l + F(x_l): nothing after the addition."""
    torch.manual_seed(0)
    block = PreActBasic(8, 8).eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        y = block(x)
        f = block.residual_branch(torch.relu(block.bn1(x)))
    assert torch.allclose(y, x + f) and (y < 0).any()
    first = PreActBottleneck(64, 64, pre_activate=False)
    assert isinstance(first.bn1, nn.Identity)
    # projection shortcuts of pre-activation blocks are bare 1x1 convolutions of the pre-activated input
    assert len(first.downsample) == 1 and isinstance(first.downsample[0], nn.Conv2d)


def test_squeeze_excite_and_drop_path_options():
    block = Bottleneck(256, 64, se_channels=16, drop_path=0.5)
    assert block.se.fc1.weight.shape == (16, 256, 1, 1)
    # key order of timm's SE-ResNet: the block's convolutions, then se.fc1/fc2, then the projection
    prefixes = list(dict.fromkeys(k.split(".")[0] for k in Bottleneck(128, 64, se_channels=16).state_dict()))
    assert prefixes == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "se", "downsample"]
    torch.manual_seed(0)
    x = torch.randn(8, 256, 4, 4)
    block.eval()
    with torch.no_grad():
        a, b = block(x), block(x)
    assert torch.equal(a, b)  # drop-path is the identity at inference
    block.train()
    with torch.no_grad():
        y = block(x)
        branch = block.se(block.residual_branch(x))
    # each sample either kept its (rescaled by 2) branch or lost it
    for i in range(8):
        kept = torch.relu(x[i] + 2 * branch[i])
        dropped = torch.relu(x[i])
        assert torch.allclose(y[i], kept, atol=1e-5) or torch.allclose(y[i], dropped, atol=1e-5)


def test_drop_path_rates_rise_linearly():
    """Huang et al. 2016, eq. 4: p_l = l/L * p_L (here from 0 at the first block to p_L at the last)."""
    rates = drop_path_rates([2, 3], 0.2)
    assert [len(r) for r in rates] == [2, 3]
    flat = [r for stage in rates for r in stage]
    assert flat[0] == 0.0 and math.isclose(flat[-1], 0.2)
    assert all(math.isclose(b - a, 0.05) for a, b in zip(flat, flat[1:]))
    assert drop_path_rates([3], 0.0) == [[0.0, 0.0, 0.0]]


# -- dense connectivity (Huang et al. 2017) --------------------------------------------------------
def test_dense_block_grows_by_k_per_layer():
    block = DenseBlock(4, 16, growth_rate=12)
    assert block.out_channels == 16 + 4 * 12
    assert [layer.norm1.num_features for layer in block.values()] == [16, 28, 40, 52]
    assert all(layer.conv1.out_channels == 4 * 12 and layer.conv2.out_channels == 12 for layer in block.values())
    x = torch.randn(2, 16, 5, 5)
    y = block.eval()(x)
    assert y.shape == (2, 64, 5, 5)
    assert torch.equal(y[:, :16], x)  # the input is carried through unchanged (concatenation)
    t = Transition(64, 32)
    assert t(y).shape == (2, 32, 2, 2)


def test_dense_layer_reads_legacy_dotted_keys():
    """torchvision's hosted DenseNet files use 'norm.1' / 'conv.2' keys (pre-0.3 names)."""
    torch.manual_seed(0)
    src, dst = DenseLayer(8, 4), DenseLayer(8, 4)
    old = {
        k.replace("norm1", "norm.1").replace("norm2", "norm.2").replace("conv1", "conv.1").replace("conv2", "conv.2"): v
        for k, v in src.state_dict().items()
    }
    assert "norm.1.running_mean" in old and "conv.2.weight" in old
    dst.load_state_dict(old, strict=True)
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        assert torch.equal(src.eval()(x), dst.eval()(x))


# -- scaled weight standardization (Brock et al. 2021a, eq. 3) ------------------------------------
@settings(max_examples=20, deadline=None)
@given(cin=st.integers(1, 16), cout=st.integers(1, 8), k=st.sampled_from([1, 3]), gain=st.floats(0.1, 3.0))
def test_standardized_weight_has_zero_mean_and_fixed_variance(cin, cout, k, gain):
    conv = ScaledStdConv2d(cin, cout, k, gamma=1.7, eps=0.0, gain_init=gain)
    w = conv.standardized_weight().detach().double()
    fan_in = cin * k * k
    if fan_in == 1:  # one weight per filter: standardization leaves 0
        return
    assert torch.allclose(w.mean((1, 2, 3)), torch.zeros(cout, dtype=torch.float64), atol=1e-5)
    var = w.var((1, 2, 3), unbiased=False)
    assert torch.allclose(var, torch.full_like(var, (gain * 1.7) ** 2 / fan_in), rtol=1e-3)


def test_scaled_ws_conv_preserves_the_signal_after_gelu():
    """With gamma_gelu, conv(gelu(x)) has unit variance for x ~ N(0, 1), whatever the weights' scale."""
    torch.manual_seed(0)
    conv = ScaledStdConv2d(256, 256, 3, gamma=ACTIVATION_GAMMA["gelu"], bias=False)
    with torch.no_grad():
        conv.weight.mul_(37.0)  # the raw scale does not matter
        y = conv(nn.functional.gelu(torch.randn(4, 256, 16, 16)))
    assert 0.85 < float(y[:, :, 1:-1, 1:-1].var()) < 1.15
    # and the parameter is 'gain' of shape C_out x 1 x 1 x 1 (timm's ScaledStdConv2d key), after weight/bias
    assert list(dict(ScaledStdConv2d(3, 5, 3).named_parameters())) == ["weight", "bias", "gain"]


@pytest.mark.parametrize("c,hw,groups,width", [(64, 56, 1, None), (128, 28, 32, 256), (256, 14, 1, 512)])
def test_block_costs_agree_with_the_arithmetic_formulas(c, hw, groups, width):
    """cnnlab.conv.arithmetic's basic_block_cost / bottleneck_cost (the analyzer's formulas) against
    the hooks' count of the real blocks, and the convolution parameters against conv_params."""
    from cnnlab.conv.arithmetic import basic_block_cost, bottleneck_cost

    basic = BasicBlock(c, c).to("meta")
    cost = basic_block_cost(c, hw)
    assert count_macs(basic, meta_input(c, hw)) == cost.macs
    assert sum(m.weight.numel() for m in basic.modules() if isinstance(m, nn.Conv2d)) == cost.params
    base_width = 64 if width is None else width * 64 // (c * groups)
    neck = Bottleneck(4 * c, c, groups=groups, base_width=base_width).to("meta")
    cost = bottleneck_cost(c, hw, groups=groups, width=width)
    assert count_macs(neck, meta_input(4 * c, hw)) == cost.macs
    assert sum(m.weight.numel() for m in neck.modules() if isinstance(m, nn.Conv2d)) == cost.params
