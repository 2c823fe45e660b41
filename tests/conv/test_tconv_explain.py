"""Transposed convolution (lecture 002, "Transposed Convolution (Padding and Strides)"): golden numbers,
the step-by-step explanation, the `explain shape` token, the CLI.

The slide's figures are Dumoulin & Visin (2016), Fig. 4.1 and 4.5: a 2x2 input and a 3x3 kernel give a
4x4 output without stride and 5x5 with stride 2. The slide labels the first "padding=0 and stride=0":
a stride is at least 1 ("no strides" is s = 1); recorded in docs/architecture.md's lecture errata.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.cli import main
from cnnlab.conv import arithmetic as ar
from cnnlab.conv.explain import explain_shape, render_shape
from cnnlab.conv.explain_tconv import explain_tconv, render_tconv
from cnnlab.errors import CnnlabError

X = np.array([[0.0, 1], [2, 3]])
K = np.array([[0.0, 1], [2, 3]])


def _torch(x, k, **kw):
    return F.conv_transpose2d(
        torch.tensor(x, dtype=torch.float64)[None, None], torch.tensor(k, dtype=torch.float64)[None, None], **kw
    )[0, 0].numpy()


def test_l002_figure_sizes_2x2_input_3x3_kernel():
    # no padding, no strides: (2 - 1)x1 + 3 = 4; strides 2: (2 - 1)x2 + 3 = 5 (Dumoulin & Visin Fig. 4.1, 4.5)
    assert ar.tconv_output_size(2, 3) == 4
    assert ar.tconv_output_size(2, 3, stride=2) == 5
    # padding 1 cuts one row/column per side: 5 - 2 = 3; output_padding keeps one more: 4
    assert ar.tconv_output_size(2, 3, stride=2, padding=1) == 3
    assert ar.tconv_output_size(2, 3, stride=2, padding=1, output_padding=1) == 4
    # the 0 stride of the slide's label is refused with the rule
    with pytest.raises(CnnlabError, match="stride must be at least 1"):
        ar.tconv_output_size(2, 3, stride=0)


def test_2x2_example_by_hand_and_its_variants():
    # each input element times the kernel, placed at its position, summed:
    # 0*K at (0,0), 1*K at (0,1), 2*K at (1,0), 3*K at (1,1)
    by_hand = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            by_hand[i : i + 2, j : j + 2] += X[i, j] * K
    np.testing.assert_array_equal(by_hand, [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    e = explain_tconv(X, K)
    np.testing.assert_array_equal(e.output[0], by_hand)
    np.testing.assert_array_equal(e.output[0], _torch(X, K))
    # padding 1 keeps the centre only
    e = explain_tconv(X, K, padding=1)
    np.testing.assert_array_equal(e.output[0], [[4]])
    np.testing.assert_array_equal(e.full[0], by_hand)
    # stride 2: the copies no longer overlap
    e = explain_tconv(X, K, stride=2)
    np.testing.assert_array_equal(e.output[0], [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])
    np.testing.assert_array_equal(e.output[0], _torch(X, K, stride=2))
    # stride 2, padding 1, output padding 1 (the usual "double the size" layer) and dilation
    for kw in ({"stride": 2, "padding": 1, "output_padding": 1}, {"dilation": 2}, {"stride": (2, 1)}):
        np.testing.assert_array_equal(explain_tconv(X, K, **kw).output[0], _torch(X, K, **kw))


def test_explanation_text_and_multichannel():
    text = render_tconv(explain_tconv(X, K))
    assert "(2 - 1)x1 - 2x0 + 1 + 1 = 3" in text
    assert "x[1, 0] = 2: 2 x kernel at (1, 0)" in text and "4 12  9" in text
    # two input channels, two output channels: out[o] = sum_c spread(x[c], K[o, c])
    rng = np.random.default_rng(0)
    x, k = rng.integers(-3, 4, (2, 3, 3)).astype(float), rng.integers(-2, 3, (2, 2, 2, 2)).astype(float)
    e = explain_tconv(x, k, stride=2, padding=1)
    theirs = F.conv_transpose2d(torch.tensor(x)[None], torch.tensor(k.transpose(1, 0, 2, 3)), stride=2, padding=1)
    np.testing.assert_allclose(e.output, theirs[0].numpy())
    assert len(e.spreads) == 2 * 2 * 9


def test_shape_token_and_T_units():
    e = explain_shape("conv 4 s2 p1 64; tconv 4 s2 p1 3; deconv 3 s2 p1 op1 8", (3, 32, 32))
    assert [r.out_shape for r in e.rows] == [(64, 16, 16), (3, 32, 32), (8, 64, 64)]
    t = e.rows[1]
    assert t.params == 64 * 3 * 4 * 4 + 3
    assert t.macs == 64 * 16 * 16 * 3 * 4 * 4  # every input element multiplies the whole C_out x K x K kernel
    # it costs what the convolution it transposes costs (same C, K, the two sizes swapped)
    assert t.macs == ar.conv_macs(3, 64, 4, 16)
    text = render_shape(e)
    assert "(16 - 1)x2 - 2x1 + 3 + 1 = 32 (transposed)" in text
    # 38.7e12 multiply-adds print as "38.7 T", not "3.87e+04G"
    big = explain_shape("conv 3 p1 1024; conv 3 p1 1024", (1024, 2048, 2048))
    assert big.macs == 2 * 1024 * 2048 * 2048 * 1024 * 9
    assert "79.2 T MACs" in render_shape(big)
    from cnnlab.analysis.render import human

    assert human(38.7e12) == "38.7 T"
    with pytest.raises(CnnlabError, match="output_padding 2 must be"):
        explain_shape("tconv 3 s2 op2 8", (3, 8, 8))


def test_cli_tconv(capsys):
    assert main(["explain", "tconv", "--input", "0 1; 2 3", "--kernel", "0 1; 2 3", "--stride", "2"]) == 0
    out = capsys.readouterr().out
    assert "(2 - 1)x2 - 2x0 + 1 + 1 = 4" in out and "output (4x4)" in out
    assert main(["explain", "deconv", "-i", "1 2; 3 4", "-k", "1 1 1; 1 1 1; 1 1 1", "-p", "1", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["output"] == [[[10.0, 10.0], [10.0, 10.0]]]
    assert main(["explain", "tconv", "-i", "1 2; 3 4", "-k", "1", "-p", "1"]) == 2
    assert "crops the whole" in capsys.readouterr().err
