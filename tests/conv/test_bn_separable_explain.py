"""`explain bn` (lecture 001, "Batch Normalization") and the 1x1 / grouped / depthwise-separable cases
of `explain conv` and `explain separable` (lecture 004, "1x1 Convolutions", "Depthwise Convolutions",
"MobileNets")."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.cli import main
from cnnlab.conv.explain import explain_conv
from cnnlab.conv.explain_bn import explain_bn, render_bn
from cnnlab.conv.explain_separable import separable_comparison
from cnnlab.errors import CnnlabError


def test_bn_by_hand_and_against_torch_train_and_eval():
    # x = 1, 2, 3, 6: mean 3, biased variance (4 + 1 + 0 + 9)/4 = 3.5, unbiased 14/3
    e = explain_bn([1.0, 2, 3, 6], gamma=2.0, beta=1.0, eps=0.0)
    ch = e.channels[0]
    assert ch.mean == 3 and ch.var == 3.5 and ch.unbiased_var == pytest.approx(14 / 3)
    np.testing.assert_allclose(ch.y_train, 2 * (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5) + 1)
    assert ch.running_mean_after == pytest.approx(0.9 * 0 + 0.1 * 3)
    assert ch.running_var_after == pytest.approx(0.9 * 1 + 0.1 * 14 / 3)
    # torch: the same batch through BatchNorm1d in train then eval mode
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 3)) * 3 + 2
    bn = torch.nn.BatchNorm1d(3, eps=1e-5, momentum=0.2).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    e = explain_bn(x, [1.0, 2.0, 0.5], [0.0, -1.0, 3.0], eps=1e-5, momentum=0.2)
    t = torch.tensor(x)
    np.testing.assert_allclose(e.y_train, bn.train()(t).detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose([c.running_mean_after for c in e.channels], bn.running_mean.numpy(), rtol=1e-10)
    np.testing.assert_allclose([c.running_var_after for c in e.channels], bn.running_var.numpy(), rtol=1e-10)
    np.testing.assert_allclose(e.y_eval, bn.eval()(t).detach().numpy(), rtol=1e-10)
    text = render_bn(explain_bn([1.0, 2, 3, 6]))
    assert "((1 - 3)^2 + (2 - 3)^2 + (3 - 3)^2 + (6 - 3)^2) / 4 = 3.5" in text
    assert "0.1 x 4.667 = 1.367" in text
    with pytest.raises(CnnlabError, match="2 or more rows"):
        explain_bn([[1.0, 2.0]])
    with pytest.raises(CnnlabError, match="gamma has 2 values"):
        explain_bn([[1.0], [2.0]], gamma=[1, 2])


def test_mobilenet_8_69x_at_256_channels():
    # L004 "MobileNets": 9C^2HW / (9C + C^2)HW; MobileNet's 1/N + 1/D_K^2. C = 256: 2304/265 = 8.694
    e = separable_comparison(256, size=14)
    assert e.standard.macs == 9 * 256 * 256 * 14 * 14
    assert e.separable.macs == (9 * 256 + 256 * 256) * 14 * 14
    assert e.speedup == pytest.approx(1 / (1 / 256 + 1 / 9)) and round(e.speedup, 2) == 8.69
    assert separable_comparison(4096).speedup > 8.98  # tends to 9


def test_depthwise_and_1x1_explanations_match_torch():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (4, 5, 5)).astype(float)
    k = rng.integers(-2, 3, (8, 1, 3, 3)).astype(float)  # depthwise, multiplier 2
    e = explain_conv(x, k, groups=4, padding=1)
    theirs = F.conv2d(torch.tensor(x)[None], torch.tensor(k), padding=1, groups=4)[0].numpy()
    np.testing.assert_allclose(e.output, theirs)
    assert all(len(s.channels) == 1 and s.channels[0].channel == s.out_channel // 2 for s in e.steps)
    k = rng.integers(-2, 3, (4, 2, 2, 2)).astype(float)  # 2 groups of 2 channels
    np.testing.assert_allclose(
        explain_conv(x, k, groups=2).output, F.conv2d(torch.tensor(x)[None], torch.tensor(k), groups=2)[0].numpy()
    )
    # 1x1: the matrix product at every pixel
    w = rng.normal(size=(3, 4))
    e = explain_conv(x, w[:, :, None, None])
    np.testing.assert_allclose(e.output, np.einsum("oc,chw->ohw", w, x))


def test_cli_bn_separable_depthwise(capsys):
    assert main(["explain", "bn", "-i", "1 2 3 6", "--gamma", "2", "--beta", "1"]) == 0
    assert "mu = (1 + 2 + 3 + 6) / 4 = 3" in capsys.readouterr().out
    assert main(["explain", "bn", "-i", "1 10; 2 20; 3 30; 6 60", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [c["mean"] for c in d["channels"]] == [3.0, 30.0]
    assert main(["explain", "separable", "--channels", "256"]) == 0
    assert "= 8.69x" in capsys.readouterr().out
    assert (
        main(["explain", "conv", "-i", "0 1 2; 3 4 5; 6 7 8 | 1 1 1; 1 1 1; 1 1 1", "-k", "0 1; 2 3", "--depthwise"])
        == 0
    )
    out = capsys.readouterr().out
    assert "groups 2 (depthwise)" in out and "out[1, 0, 0] = 1x0 + 1x1 + 1x2 + 1x3 = 6" in out
    assert main(["explain", "conv", "-i", "1 2; 3 4 | 5 6; 7 8", "-k", "1 | 2", "--groups", "3"]) == 2
    assert "groups=3 must divide" in capsys.readouterr().err


def test_cli_global_and_1x1_pooling(capsys):
    # L004 "GoogLeNet: Global Average Pooling": the whole map averaged, one number per channel
    assert main(["explain", "pool", "-i", "1 2; 3 4 | 0 0; 0 8", "--global", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["mode"] == "avg" and d["output"] == [[[2.5]], [[2.0]]]
    assert main(["explain", "pool", "-i", "1 2; 3 4 | 0 0; 0 8", "--global", "--mode", "max"]) == 0
    assert "global max pooling" in capsys.readouterr().out
    assert main(["explain", "pool", "-i", "1 2 3; 4 5 6; 7 8 9", "-k", "1", "-s", "2"]) == 0
    out = capsys.readouterr().out
    assert "only subsamples" in out and "1 3\n7 9" in out


def test_depthwise_with_one_kernel_per_channel():
    x = np.arange(18.0).reshape(2, 3, 3)
    k = np.array([[[1.0, 0], [0, 0]], [[0, 0], [0, 1]]])  # channel 0: top-left tap, channel 1: bottom-right
    e = explain_conv(x, k, groups=2)
    np.testing.assert_array_equal(e.output, [[[0, 1], [3, 4]], [[13, 14], [16, 17]]])
