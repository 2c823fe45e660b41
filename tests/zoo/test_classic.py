"""The classic networks against the papers' and the lectures' own numbers: LeNet-5's C3 table,
AlexNet (2012) and ZFNet layer by layer, GoogLeNet's Table 1, Inception-v3/v4 block widths,
and the torchvision transform_input folding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from cnnlab import create_model, load_weights
from cnnlab.models.googlenet import GOOGLENET_TABLE
from cnnlab.models.lenet import C3_TABLE, ConnectionTableConv
from cnnlab.nn.lrn import paper_lrn

from helpers.conformance import apply_weight_rule


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def meta(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kw).eval()


def output_shapes(model: nn.Module, modules: list[str], side: int, chans: int = 3) -> dict[str, tuple]:
    seen = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda _m, _i, o, n=n: seen.__setitem__(n, tuple(o.shape[1:])))
        for n in modules
    ]
    with torch.no_grad():
        model.forward_features(torch.empty(1, chans, side, side, device="meta"))
    for h in hooks:
        h.remove()
    return seen


# -- LeNet-5 (1998): C3's partial connection table -------------------------------------------------
def test_c3_table_is_the_papers_table_one():
    # Table I: maps 0-5 read 3 contiguous S2 maps, 6-11 read 4 contiguous, 12-14 4 non-contiguous, 15 all
    assert [len(t) for t in C3_TABLE] == [3] * 6 + [4] * 9 + [6]
    for j in range(6):
        assert set(C3_TABLE[j]) == {j % 6, (j + 1) % 6, (j + 2) % 6}
        assert set(C3_TABLE[6 + j]) == {j % 6, (j + 1) % 6, (j + 2) % 6, (j + 3) % 6}
    assert sum(len(t) for t in C3_TABLE) == 60


def test_lenet5_1998_c3_has_1516_parameters_and_the_total_follows():
    m = create_model("lenet5_1998")
    assert n_params(m.features.c3) == 1_516  # 25 * 60 weights + 16 biases
    assert n_params(m) == 61_706 - 2_416 + 1_516


def test_c3_connects_exactly_the_table():
    """Input map i reaches output map j iff i is in table[j] (probe with one map at a time)."""
    conv = ConnectionTableConv(C3_TABLE, 5, in_channels=6)
    with torch.no_grad():
        for c in conv.convs:
            c.weight.fill_(1.0)
            c.bias.zero_()
        for i in range(6):
            x = torch.zeros(1, 6, 14, 14)
            x[0, i] = 1.0
            reached = {j for j in range(16) if conv(x)[0, j].abs().sum() > 0}
            assert reached == {j for j, t in enumerate(C3_TABLE) if i in t}


def test_c3_equals_a_masked_full_convolution():
    conv = ConnectionTableConv(C3_TABLE, 5, in_channels=6)
    full = nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        full.weight.zero_()
        j = 0
        for c in conv.convs:
            maps = c.out_channels
            for k in range(maps):
                ins = C3_TABLE[j + k]
                full.weight[j + k, list(ins)] = c.weight[k]
                full.bias[j + k] = c.bias[k]
            j += maps
        x = torch.randn(3, 6, 14, 14)
        assert torch.allclose(conv(x), full(x), atol=1e-5)


# -- AlexNet (2012) and ZFNet: lecture 004's tables --------------------------------------------------
def test_alexnet_original_layer_table():
    m = create_model("alexnet_original")
    convs = [mod for mod in m.features if isinstance(mod, nn.Conv2d)]
    fcs = [mod for mod in m.classifier if isinstance(mod, nn.Linear)]
    # lecture 004 lists conv2/4/5 without the two-GPU split (615k, 1,327k, 885k); with groups=2 each
    # filter reads half the maps: 256*48*25+256, 384*192*9+384, 256*192*9+256
    assert [n_params(c) for c in convs] == [34_944, 307_456, 885_120, 663_936, 442_624]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [n_params(f) for f in fcs] == [37_752_832, 16_781_312, 4_097_000]  # lecture: 37,753k fc6
    assert n_params(m) == 60_965_224
    shapes = output_shapes(
        meta("alexnet_original"),
        [
            "features.0",
            "features.3",
            "features.4",
            "features.7",
            "features.8",
            "features.10",
            "features.12",
            "features.14",
        ],
        227,
    )
    # conv1 55, pool1 27, conv2 27, pool2 13, conv3-5 13, pool5 6 (lecture 004 table; 256*6*6 = 9,216)
    assert [s[1] for s in shapes.values()] == [55, 27, 27, 13, 13, 13, 13, 6]
    assert shapes["features.14"] == (256, 6, 6)


def test_alexnet_original_has_lrn_after_conv1_and_conv2_and_dropout_after_fc6_fc7():
    m = create_model("alexnet_original")
    kinds = [type(x).__name__ for x in m.features]
    assert kinds[:8] == [
        "Conv2d",
        "ReLU",
        "LocalResponseNorm",
        "MaxPool2d",
        "Conv2d",
        "ReLU",
        "LocalResponseNorm",
        "MaxPool2d",
    ]
    assert kinds.count("LocalResponseNorm") == 2
    assert [type(x).__name__ for x in m.classifier] == [
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    pool = m.features[3]
    assert (pool.kernel_size, pool.stride) == (3, 2)  # overlapping pooling, section 3.4


def test_paper_lrn_is_the_papers_formula():
    a = torch.randn(2, 9, 4, 4)
    b = paper_lrn()(a)
    sq = nn.functional.pad(a**2, (0, 0, 0, 0, 2, 2))
    window = sum(sq[:, i : i + 9] for i in range(5))
    assert torch.allclose(b, a / (2 + 1e-4 * window) ** 0.75, atol=1e-6)


def test_zfnet_follows_lecture_004():
    m = meta("zfnet")
    convs = [(f"features.{n}", mod) for n, mod in m.features.named_children() if isinstance(mod, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0]) for _, c in convs][:2] == [(7, 2), (5, 2)]
    assert [c.out_channels for _, c in convs] == [96, 256, 512, 1024, 512]
    shapes = output_shapes(m, [n for n, _ in convs] + ["features.2", "features.6", "features.14"], 224)
    # ZF Fig. 3: 110 -> pool 55 -> 26 -> pool 13 -> 13 -> pool 6
    assert [shapes[n][1] for n, _ in convs] == [110, 26, 13, 13, 13]
    assert [shapes[n][1] for n in ("features.2", "features.6", "features.14")] == [55, 13, 6]


def test_alexnet_torchvision_layout():
    m = meta("alexnet")
    assert [i for i, x in enumerate(m.features) if isinstance(x, nn.Conv2d)] == [0, 3, 6, 8, 10]
    assert [i for i, x in enumerate(m.classifier) if isinstance(x, nn.Linear)] == [1, 4, 6]


# -- VGG -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth, convs", [(11, 8), (13, 10), (16, 13), (19, 16)])
def test_vgg_depth_is_convs_plus_three_fc(depth, convs):
    m = meta(f"vgg{depth}")
    assert sum(isinstance(x, nn.Conv2d) for x in m.features) == convs == depth - 3
    assert all(x.kernel_size == (3, 3) and x.padding == (1, 1) for x in m.features if isinstance(x, nn.Conv2d))


def test_vgg16_bn_conv_indices_are_torchvisions():
    m = meta("vgg16_bn")
    assert [i for i, x in enumerate(m.features) if isinstance(x, nn.Conv2d)] == [
        0,
        3,
        7,
        10,
        14,
        17,
        20,
        24,
        27,
        30,
        34,
        37,
        40,
    ]


# -- NiN -----------------------------------------------------------------------------------------
def test_nin_mlpconv_blocks_and_global_average_pooling():
    m = create_model("nin", num_classes=10).eval()
    blocks = [x for x in m.features if isinstance(x, nn.Sequential)]
    assert [[c.kernel_size[0] for c in b if isinstance(c, nn.Conv2d)] for b in blocks] == [
        [11, 1, 1],
        [5, 1, 1],
        [3, 1, 1],
        [3, 1],
    ]
    assert m.classifier.kernel_size == (1, 1) and m.classifier.out_channels == 10
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():  # the scores are the class maps' spatial means (section 3.2)
        maps = torch.relu(m.classifier(m.forward_features(x)))
        assert torch.allclose(m(x), maps.mean((2, 3)), atol=1e-6)


# -- GoogLeNet -----------------------------------------------------------------------------------
def test_googlenet_stem_matches_lecture_004():
    m = meta("googlenet")
    # lecture 004 "Stem network": 7x7/2 64 -> 112, pool -> 56, 1x1 64, 3x3 192 -> 56, pool -> 28; 124K params
    shapes = output_shapes(m, ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"], 224)
    assert [s[1] for s in shapes.values()] == [112, 56, 56, 56, 28]
    weights = [m.conv1.conv.weight.numel(), m.conv2.conv.weight.numel(), m.conv3.conv.weight.numel()]
    assert weights == [9_408, 4_096, 110_592] and sum(weights) == 124_096


def test_googlenet_table_one_output_sizes():
    m = meta("googlenet_paper")
    names = [
        "inception3a",
        "inception3b",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5a",
        "inception5b",
    ]
    shapes = output_shapes(m, names, 224)
    assert [shapes[n] for n in names] == [
        (256, 28, 28),
        (480, 28, 28),
        (512, 14, 14),
        (512, 14, 14),
        (512, 14, 14),
        (528, 14, 14),
        (832, 14, 14),
        (832, 7, 7),
        (1024, 7, 7),
    ]


def test_googlenet_paper_inception_weights_follow_table_one_widths():
    """Weights per module from Table 1's widths: in*#1x1 + in*#3x3red + #3x3red*#3x3*9 + in*#5x5red
    + #5x5red*#5x5*25 + in*poolproj. (Table 1's own "params" column does not follow its widths
    everywhere: it prints 463K for 4c, 580K for 4d, where the widths give 509K and 605K.)"""
    m = meta("googlenet_paper")
    ch = 192
    for row in GOOGLENET_TABLE:
        if isinstance(row, str):
            continue
        name, c1, r3, c3, r5, c5, pp = row
        weights = sum(p.numel() for n, p in m.get_submodule(name).named_parameters() if n.endswith("weight"))
        assert weights == ch * c1 + ch * r3 + r3 * c3 * 9 + ch * r5 + r5 * c5 * 25 + ch * pp, name
        ch = c1 + c3 + c5 + pp
    assert m.inception3a.branch3[1].conv.kernel_size == (5, 5)  # the paper's real 5x5 branch
    assert meta("googlenet").inception3a.branch3[1].conv.kernel_size == (3, 3)  # torchvision's


def test_googlenet_aux_heads_in_training_and_torchvision_key_count():
    full = meta("googlenet", aux_logits=True)
    assert len(full.state_dict()) == 364 and n_params(full) == 13_004_888  # torchvision's file with aux heads
    m = create_model("googlenet", aux_logits=True, num_classes=5)
    m.train()
    out = m(torch.randn(2, 3, 96, 96))
    assert [tuple(t.shape) for t in out] == [(2, 5), (2, 5), (2, 5)]
    m.reset_classifier(3)  # the auxiliary heads follow the new class count
    assert [tuple(t.shape) for t in m(torch.randn(2, 3, 96, 96))] == [(2, 3), (2, 3), (2, 3)]
    m.eval()
    with torch.no_grad():
        assert m(torch.randn(2, 3, 96, 96)).shape == (2, 3)
    v3 = create_model("inception_v3", aux_logits=True, num_classes=4)
    v3.reset_classifier(6)
    assert v3.fc.out_features == v3.AuxLogits.fc.out_features == 6  # (its aux head needs 299x299 inputs)


def _transform_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision's hidden transform (googlenet.py/inception.py ``_transform_input``), by hand."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return torch.cat([x[:, c : c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)], 1)


@pytest.mark.parametrize("name, side, aux", [("googlenet", 112, True), ("inception_v3", 107, False)])
def test_torchvision_transform_input_is_folded_exactly(name, side, aux, tmp_path):
    """A torchvision file (made by the weight rule) + its hidden transform == our model after loading."""
    torch.manual_seed(0)
    reference = apply_weight_rule(create_model(name, aux_logits=True)).eval()
    path = tmp_path / f"{name}-torchvision.pth"
    torch.save(reference.state_dict(), path)  # a plain state dict with the aux keys, as torchvision ships it
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        want = reference(_transform_input(x))
    ours = create_model(name, aux_logits=aux).eval()
    report = load_weights(ours, path)
    assert report.source == "torchvision"
    with torch.no_grad():
        got = ours(x)
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())
    # the folded model round-trips through a plain state dict (strict), without folding twice
    again = create_model(name, aux_logits=aux).eval()
    again.load_state_dict(ours.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(again(x), got, atol=1e-6)


# -- Inception-v3/v4, Inception-ResNet-v2 --------------------------------------------------------
def test_inception_v3_grids_and_aux_head():
    m = meta("inception_v3")
    shapes = output_shapes(m, ["Mixed_5d", "Mixed_6e", "Mixed_7c"], 299)
    assert shapes == {"Mixed_5d": (288, 35, 35), "Mixed_6e": (768, 17, 17), "Mixed_7c": (2048, 8, 8)}
    with_aux = create_model("inception_v3", aux_logits=True)
    assert len(with_aux.state_dict()) == 580 and n_params(with_aux) == 27_161_264


def test_inception_v4_and_resnet_v2_grids():
    v4 = meta("inception_v4")
    shapes = output_shapes(v4, ["features.5", "features.9", "features.17", "features.21"], 299)
    # Fig. 9: stem -> 35x35x384, 4 x A, Reduction-A -> 17x17x1024, 7 x B, Reduction-B -> 8x8x1536, 3 x C
    assert list(shapes.values()) == [(384, 35, 35), (384, 35, 35), (1024, 17, 17), (1536, 8, 8)]
    ir = meta("inception_resnet_v2")
    shapes = output_shapes(ir, ["mixed_5b", "repeat", "repeat_1", "repeat_2", "conv2d_7b"], 299)
    assert list(shapes.values()) == [(320, 35, 35), (320, 35, 35), (1088, 17, 17), (2080, 8, 8), (1536, 8, 8)]
    assert [len(ir.repeat), len(ir.repeat_1), len(ir.repeat_2)] == [10, 20, 9]
    assert [ir.repeat[0].scale, ir.repeat_1[0].scale, ir.repeat_2[0].scale, ir.block8.scale] == [0.17, 0.10, 0.20, 1.0]


def test_inception_resnet_block_is_a_scaled_residual():
    ir = create_model("inception_resnet_v2").eval()
    block = ir.repeat[0]
    x = torch.randn(1, 320, 9, 9)
    with torch.no_grad():
        want = torch.relu(x + block.scale * block.conv2d(block.branches(x)))
        assert torch.allclose(block(x), want, atol=1e-6)
    assert math.isclose(block.scale, 0.17)


def test_folded_torchvision_weights_in_a_grey_inception_v3(tmp_path):
    """Fold then sum: a grey image through the 1-channel model == (g, g, g) through torchvision's."""
    torch.manual_seed(0)
    reference = apply_weight_rule(create_model("inception_v3")).eval()
    torch.save(reference.state_dict(), tmp_path / "inception_v3_google.pth")
    grey = create_model("inception_v3", in_chans=1).eval()
    report = load_weights(grey, tmp_path / "inception_v3_google.pth")
    assert report.adapted_first_conv == "Conv2d_1a_3x3.conv.weight: 3 -> 1 channels"
    g = torch.randn(1, 1, 80, 80)
    with torch.no_grad():
        want = reference(_transform_input(g.expand(-1, 3, -1, -1)))
        assert float((grey(g) - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_auxiliary_heads_name_their_own_minimum_size():
    """Training through Inception-v3's aux head needs the 17x17 grid of a 299x299 input (its 5x5/3
    pool and 5x5 conv); without the head 75x75 is enough."""
    from cnnlab import CnnlabError

    v3 = meta("inception_v3", aux_logits=True).train()
    with pytest.raises(CnnlabError, match="at least 299x299"):
        v3(torch.empty(2, 3, 120, 120, device="meta"))
    with pytest.raises(CnnlabError, match="at least 75x75"):
        v3.eval()(torch.empty(2, 3, 64, 64, device="meta"))
