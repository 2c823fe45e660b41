"""ImageNet ResNets, ResNeXt, Wide ResNet, SE-ResNet and the pre-activation ResNets.

Keys, shapes, parameter counts and outputs against torchvision / timm fixtures are checked for every
registered fixture name in test_torchvision_conformance.py; here: the paper facts (Table 1 depths and
FLOPs, the v1 stride option, the ResNeXt / Wide widths, pre-activation structure), all on the meta
device except a few small real forwards.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnlab import CnnlabError, create_model, list_models, model_card
from cnnlab.models.resnet import RESNET_DEPTHS
from cnnlab.nn.residual import PreActBasic, PreActBottleneck

from helpers.zoo_b_helpers import count_macs, meta_input, meta_model, n_params

# He et al. 2015, Table 1, last row: FLOPs (multiply-adds) of the v1 networks at 224x224. The last digit
# is not consistently rounded: ResNet-34 counts 3.66e9 (printed 3.6), ResNet-50 3.86e9 (printed 3.8),
# ResNet-101 7.57e9 (printed 7.6), ResNet-152 11.28e9 (printed 11.3).
PAPER_FLOPS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}
# torchvision's GFLOPS (multiply-adds, v1.5 stride) from its weight docs
TORCHVISION_GFLOPS = {18: 1.81, 34: 3.66, 50: 4.09, 101: 7.80, 152: 11.51}


def test_every_depth_is_registered_with_its_table_row():
    assert set(list_models("resnet*")) >= {f"resnet{d}" for d in RESNET_DEPTHS}
    # Table 1 layer count: 2 (basic) or 3 (bottleneck) convolutions per block + conv1 + fc
    for depth, (block, layers) in RESNET_DEPTHS.items():
        assert (2 if block == "basic" else 3) * sum(layers) + 2 == depth


@pytest.mark.parametrize("depth", sorted(RESNET_DEPTHS))
def test_flops_v1_match_paper_table1_and_v15_match_torchvision(depth):
    x = meta_input(3, 224)
    v1 = count_macs(meta_model(f"resnet{depth}", stride_in="1x1"), x)
    v15 = count_macs(meta_model(f"resnet{depth}"), x)
    assert abs(v1 - PAPER_FLOPS[depth]) < 0.07e9, f"v1 {v1 / 1e9:.3f} GMACs vs paper {PAPER_FLOPS[depth] / 1e9}"
    assert round(v15 / 1e9, 2) == TORCHVISION_GFLOPS[depth]
    assert model_card(f"resnet{depth}").macs == TORCHVISION_GFLOPS[depth] * 1e9
    if RESNET_DEPTHS[depth][0] == "basic":
        assert v1 == v15  # two 3x3 convolutions: nowhere else to put the stride


def test_v1_option_moves_only_the_stride():
    v1, v15 = meta_model("resnet50", stride_in="1x1"), meta_model("resnet50")
    assert [(k, v.shape) for k, v in v1.state_dict().items()] == [(k, v.shape) for k, v in v15.state_dict().items()]
    for m1, m15 in ((v1.layer2[0], v15.layer2[0]), (v1.layer4[0], v15.layer4[0])):
        assert (m1.conv1.stride, m1.conv2.stride) == ((2, 2), (1, 1))
        assert (m15.conv1.stride, m15.conv2.stride) == ((1, 1), (2, 2))
    assert any("stride_in='1x1'" in d for d in model_card("resnet50").departures)
    with pytest.raises(CnnlabError, match="stride position"):
        create_model("resnet18", stride_in="middle")


def test_v1_and_v15_compute_different_functions_with_the_same_weights():
    torch.manual_seed(0)
    a = create_model("resnet50", num_classes=10).eval()
    b = create_model("resnet50", num_classes=10, stride_in="1x1").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert (a(x) - b(x)).abs().max() > 1e-3


def test_resnext_and_wide_widths():
    """ResNeXt 32x4d: the first stage's grouped 3x3 has 32 groups of 4 channels (Xie et al. 2017, Table 1:
    conv2 [1x1, 128; 3x3, 128, C=32; 1x1, 256]); Wide ResNet-50-2 doubles the 3x3 width (64 -> 128)."""
    rx = meta_model("resnext50_32x4d")
    assert (rx.layer1[0].conv2.in_channels, rx.layer1[0].conv2.groups) == (128, 32)
    assert rx.layer4[0].conv2.out_channels == 1024 and rx.layer4[0].conv3.out_channels == 2048
    assert meta_model("resnext101_32x8d").layer1[0].conv2.in_channels == 256
    wide = meta_model("wide_resnet50_2")
    assert wide.layer1[0].conv2.in_channels == 128 and wide.layer1[0].conv2.groups == 1
    assert wide.layer4[-1].conv2.in_channels == 1024  # torchvision docs: 2048-1024-2048 in the last block
    # paper figures: ResNeXt-50 25.0M params (Xie et al. Table 1), WRN-50-2-bottleneck 68.9M
    assert round(n_params(rx) / 1e6, 1) == 25.0
    assert round(n_params(wide) / 1e6, 1) == 68.9


def test_se_resnet50_against_senet_table():
    """SENet, Hu et al. 2018, Table 2: SE-ResNet-50 has 28.1M parameters and 3.87 GFLOPs (v1 stride),
    against 25.6M and 3.86 for ResNet-50: squeeze-excite adds ~10% parameters but ~0.26% compute."""
    se = meta_model("se_resnet50")
    assert round(n_params(se) / 1e6, 1) == 28.1
    assert se.layer1[0].se.fc1.out_channels == 256 // 16 and se.layer4[0].se.fc1.out_channels == 2048 // 16
    x = meta_input(3, 224)
    v1 = count_macs(meta_model("se_resnet50", stride_in="1x1"), x)
    plain_v1 = count_macs(meta_model("resnet50", stride_in="1x1"), x)
    assert round(v1 / 1e9, 2) == 3.86  # the paper prints 3.87 with the SE's gating and pooling counted
    assert 0 < v1 - plain_v1 < 0.01 * plain_v1


def test_drop_path_and_zero_init_residual_options():
    model = meta_model("resnet34", drop_path_rate=0.1)
    rates = [
        b.drop_path.p if hasattr(b.drop_path, "p") else 0.0
        for layer in (model.layer1, model.layer2, model.layer3, model.layer4)
        for b in layer
    ]
    assert len(rates) == 16 and rates[0] == 0.0 and abs(rates[-1] - 0.1) < 1e-9
    assert rates == sorted(rates)
    z = create_model("resnet18", zero_init_residual=True)
    assert all(float(b.bn2.weight.detach().abs().sum()) == 0 for layer in (z.layer1, z.layer4) for b in layer)


def test_resnet_works_at_tiny_sizes_and_other_channels():
    """Every layer pads, and the head pools adaptively: any size >= 1 works (torchvision min_size 1x1)."""
    model = meta_model("resnet18", in_chans=1, num_classes=3)
    for side in (1, 17, 300):
        assert model(torch.empty(2, 1, side, side, device="meta")).shape == (2, 3)
    assert model.conv1.in_channels == 1


# -- pre-activation ResNets (He et al. 2016) -------------------------------------------------------
@pytest.mark.parametrize("depth", sorted(RESNET_DEPTHS))
def test_preact_has_the_same_convolutions_as_resnet(depth):
    pre, post = meta_model(f"preact_resnet{depth}"), meta_model(f"resnet{depth}")
    convs = [m.weight.shape for m in post.modules() if isinstance(m, nn.Conv2d)]
    assert [m.weight.shape for m in pre.modules() if isinstance(m, nn.Conv2d)] == convs
    # BN: one before each conv of a unit (the first unit's comes from the stem), the stem's, the final
    # one; none on the projections
    block = PreActBasic if RESNET_DEPTHS[depth][0] == "basic" else PreActBottleneck
    units = [m for m in pre.modules() if isinstance(m, block)]
    assert isinstance(units[0].bn1, nn.Identity) and all(isinstance(u.bn1, nn.BatchNorm2d) for u in units[1:])
    bn_channels = sum(m.num_features for m in pre.modules() if isinstance(m, nn.BatchNorm2d))
    stem = 64
    in_channels = sum(u.conv1.in_channels for u in units[1:])
    inner = sum(m.in_channels for u in units for m in (u.conv2, getattr(u, "conv3", None)) if m is not None)
    assert bn_channels == stem + in_channels + inner + pre.num_features
    assert n_params(pre) == model_card(f"preact_resnet{depth}").params


def test_preact_forward_ends_with_bn_relu():
    torch.manual_seed(0)
    model = create_model("preact_resnet18", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        before = model.layer4(
            model.layer3(model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))))
        )
    assert (before < 0).any()  # the last unit ends with an addition, no activation
    assert torch.allclose(feats, torch.relu(model.norm(before)))
    assert model.feature_info[-1]["module"] == "norm"


@pytest.mark.parametrize("depth", sorted(RESNET_DEPTHS))
def test_preact_card_macs_are_the_counted_ones(depth):
    assert (
        count_macs(meta_model(f"preact_resnet{depth}"), meta_input(3, 224)) == model_card(f"preact_resnet{depth}").macs
    )


def test_shortcut_options_of_table3_and_the_plain_network_of_fig4():
    """He et al. 2015, Table 3 / Fig. 4: ResNet-34 with shortcuts A has exactly the parameters of plain-34
    ("the residual networks have no extra parameter compared to their plain counterparts", lecture 002);
    B adds the three projections where the width doubles; C projects in every block."""
    b = n_params(meta_model("resnet34"))
    a = n_params(meta_model("resnet34", shortcut="A"))
    plain = meta_model("resnet34", residual=False)
    projections = sum(c * 2 * c + 2 * (2 * c) for c in (64, 128, 256))  # 1x1 conv + BN per stage 2..4
    assert b - a == projections == 173_824
    assert n_params(plain) == a
    assert all(not blk.residual and blk.downsample is None for layer in (plain.layer1, plain.layer4) for blk in layer)
    c = n_params(meta_model("resnet34", shortcut="C"))
    identity_blocks = {64: 3, 128: 3, 256: 5, 512: 2}  # the blocks B leaves as identities (3, 4, 6, 3 minus firsts)
    assert c - b == sum(n * (ch * ch + 2 * ch) for ch, n in identity_blocks.items())


def test_lecture_004_resnet_table_figures():
    """Lecture 004's ResNet-18/34 table: GFLOPs 1.8 / 3.6 and top-5 error 10.92 / 8.58 '224x224
    single-crop testing, reported by torchvision' (= 100 - torchvision's acc@5 89.078 / 91.42)."""
    for name, gflops, top5_err in (("resnet18", 1.8, 10.92), ("resnet34", 3.6, 8.58)):
        card = model_card(name)
        assert round(100 - card.top5, 2) == top5_err
        assert abs(count_macs(meta_model(name), meta_input(3, 224)) / 1e9 - gflops) < 0.07
    # Stage blocks / conv layers of the lecture's table: 2-2-2-2 (4 convs each) and 3-4-6-3
    assert RESNET_DEPTHS[18] == ("basic", (2, 2, 2, 2)) and RESNET_DEPTHS[34] == ("basic", (3, 4, 6, 3))


@pytest.mark.parametrize("depth", [50, 101])
def test_resnext_settings_keep_the_complexity(depth):
    """Lecture 004 'ResNeXt: maintain computation by adding groups' (Xie et al. 2017, Table 2/3): the
    settings 1x64d, 2x40d, 4x24d, 8x14d, 32x4d have grouped 3x3 widths 64, 80, 96, 112, 128 and (the
    paper) 'roughly the same complexity': within 5% of ResNet's multiply-adds and 3% of its parameters."""
    x = meta_input(3, 224)
    base = meta_model(f"resnet{depth}")
    base_macs, base_params = count_macs(base, x), n_params(base)
    for groups, d, width in ((2, 40, 80), (4, 24, 96), (8, 14, 112), (32, 4, 128)):
        model = meta_model(f"resnet{depth}", groups=groups, width_per_group=d)
        assert (model.layer1[0].conv2.in_channels, model.layer1[0].conv2.groups) == (width, groups)
        assert abs(count_macs(model, x) / base_macs - 1) < 0.05
        assert abs(n_params(model) / base_params - 1) < 0.03
    assert n_params(meta_model(f"resnet{depth}", groups=32, width_per_group=4)) == n_params(
        meta_model("resnext50_32x4d" if depth == 50 else "resnext101_32x8d", width_per_group=4)
    )
