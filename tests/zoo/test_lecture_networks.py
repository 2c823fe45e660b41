"""The networks lectures 001 and 004 name that the zoo lacked: BN-Inception (Inception-v2), ResNet-200
(pre-activation), SE-ResNeXt-50/101 32x4d, the naive inception module; and the lectures' GoogLeNet "4M".
Parameter counts are recounted here by hand from the papers' tables, and against timm's published counts."""

from __future__ import annotations

import json

import pytest
import torch

from cnnlab import create_model, model_card
from cnnlab.analysis import summary
from cnnlab.conv import arithmetic as ar

from helpers.conformance import REFERENCE

REFERENCE_TIMM = REFERENCE / "timm"


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


def meta(name, **kw):
    with torch.device("meta"):
        return create_model(name, **kw)


def conv_bn(c_in, c_out, k):
    return c_in * c_out * k * k + 2 * c_out


def test_bn_inception_figure5_by_hand():
    # Ioffe & Szegedy 2015, Figure 5: (#1x1, #3x3 red, #3x3, double red, double #3x3, pool proj, stride)
    rows = [
        (64, 64, 64, 64, 96, 32, 1),
        (64, 64, 96, 64, 96, 64, 1),
        (0, 128, 160, 64, 96, 0, 2),
        (224, 64, 96, 96, 128, 128, 1),
        (192, 96, 128, 96, 128, 128, 1),
        (160, 128, 160, 128, 160, 128, 1),
        (96, 128, 192, 160, 192, 128, 1),
        (0, 128, 192, 192, 256, 0, 2),
        (352, 192, 320, 160, 224, 128, 1),
        (352, 192, 320, 192, 224, 128, 1),
    ]
    total = conv_bn(3, 64, 7) + conv_bn(64, 64, 1) + conv_bn(64, 192, 3)
    c, outs = 192, []
    for c1, r3, c3, rd, d3, proj, stride in rows:
        total += (conv_bn(c, c1, 1) if c1 else 0) + conv_bn(c, r3, 1) + conv_bn(r3, c3, 3)
        total += conv_bn(c, rd, 1) + conv_bn(rd, d3, 3) + conv_bn(d3, d3, 3) + (conv_bn(c, proj, 1) if proj else 0)
        c = c1 + c3 + d3 + (proj if stride == 1 else c)  # stride 2: the max pool passes its input through
        outs.append(c)
    total += c * 1000 + 1000
    # the branch columns give 608 / 608 / 1056 where the figure's output column prints 576 / 576 / 1024
    assert outs == [256, 320, 576, 576, 576, 608, 608, 1056, 1024, 1024]
    m = meta("bn_inception")
    assert n_params(m) == total == model_card("bn_inception").params == 11_285_224
    s = summary("bn_inception")
    assert s.output_shape == (1000,) and s.macs == model_card("bn_inception").macs
    assert [m._modules[f"inception_{k}"].out_channels for k in ("3c", "4e", "5b")] == [576, 1056, 1024]
    feats = torch.nn.Sequential(*[m._modules[n] for n in m.stages])
    assert feats(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 1024, 7, 7)


def test_preact_resnet200_by_hand():
    # He et al. 2016 (Identity Mappings), Table 5: ResNet-200 = bottleneck stages of 3, 24, 36, 3 units
    total, c = 3 * 64 * 49 + 2 * 64, 64  # stem conv + its BN (the first unit's pre-activation)
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), (3, 24, 36, 3), strict=True)):
        for u in range(n):
            pre = 0 if (i == 0 and u == 0) else 2 * c  # BN before the unit
            body = c * planes + 2 * planes + 9 * planes * planes + 2 * planes + planes * 4 * planes
            proj = c * 4 * planes if u == 0 else 0  # a bare 1x1 projection where the shape changes
            total += pre + body + proj
            c = 4 * planes
    total += 2 * c + c * 1000 + 1000  # final BN, fc
    assert n_params(meta("preact_resnet200")) == total == model_card("preact_resnet200").params
    card = model_card("preact_resnet200")
    # lecture 004: "21.8 vs 20.7" (original vs pre-activation ResNet-200, top-1 error, 320 crop)
    assert 100 - card.top1 == pytest.approx(20.7) and "21.8%" in card.source


@pytest.mark.parametrize(
    "name, timm_name, timm_params",
    [
        ("se_resnext50_32x4d", "seresnext50_32x4d", 27_559_896),
        ("se_resnext101_32x4d", "seresnext101_32x4d", 48_955_416),
    ],
)
def test_se_resnext_against_timm_counts_and_keys(name, timm_name, timm_params):
    m = meta(name)
    assert n_params(m) == timm_params == model_card(name).params
    assert model_card(name).timm == timm_name
    conv2 = m.layer1[0].conv2
    assert conv2.groups == 32 and conv2.in_channels == 128  # 32 groups x 4 channels
    assert m.layer1[0].se.fc1.out_channels == 16  # 256 / 16
    if name == "se_resnext50_32x4d":
        # timm's key names: the same as its seresnet50, whose fixture test_torchvision_conformance checks
        assert list(m.state_dict()) == list(meta("se_resnet50").state_dict())
        fixture = REFERENCE_TIMM / "seresnet50.json"
        if fixture.is_file():  # ../shared next to the repository (a CI checkout has it)
            assert list(m.state_dict()) == [k for k, _, _ in json.loads(fixture.read_text())["state_dict"]]


def test_naive_inception_against_reduced_lecture001_table():
    # L001 "Inception Blocks": Inception 0.16 M / 128 M, 3x3 conv 0.44 M / 346 M, 5x5 conv 1.22 M / 963 M.
    # The naive module (Fig. 2a) with 3a's widths: 1x1 64, 3x3 128, 5x5 32 all on 192 channels, pool passes 192
    naive = ar.inception_naive_cost(192, 28, 64, 128, 32)
    assert naive.params == 192 * 64 + 9 * 192 * 128 + 25 * 192 * 32 == 387_072
    assert naive.macs == 28 * 28 * 387_072 == 303_464_448
    reduced = ar.inception_cost(192, 28, 64, 96, 128, 16, 32, 32)
    assert (reduced.params, reduced.macs) == (163_328, 128_049_152)
    s = summary("lecture:inception3a_naive")
    assert (s.params.total, s.macs, s.output_shape) == (387_072, 303_464_448, (416, 28, 28))


def test_googlenet_4m_erratum():
    # L002 "Quiz": "GoogLeNet (22-layers) (4M)". Szegedy et al. 2014, Table 1's params column sums to 6.8 M
    # (2.7K + 112K + 159K + 380K + 364K + 437K + 463K + 580K + 840K + 1072K + 1388K + 1000K); with biases,
    # no auxiliary classifiers: 6,998,552 (torchvision's BN form: 6,624,904)
    table_k = [2.7, 112, 159, 380, 364, 437, 463, 580, 840, 1072, 1388, 1000]
    assert sum(table_k) == pytest.approx(6797.7)
    assert n_params(meta("googlenet_paper")) == 6_998_552
    assert n_params(meta("googlenet")) == 6_624_904
