"""Golden tests: every worked example of the lectures in ../shared/lectures/, recomputed.

Each test cites the lecture file and the slide (its title in the text). Where the lecture prints a
wrong number, the test asserts the right one and says in a comment what the lecture printed; the
list of those errors is also kept in docs/architecture.md ("conv/": lecture errata).

L000 = 000_47f192836aa68aa0.txt, L001 = 001_b0e96a3afb998ca4.txt, L002 = 002_c7db611eaf504939.txt,
L003 = 003_b9d2c566c8a15643.txt, L004 = 004_cb292e905985b15d.txt
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.conv import arithmetic as ar
from cnnlab.conv.explain import explain_conv, explain_pool, explain_shape
from cnnlab.conv.filters import make_kernel
from cnnlab.conv.matrices import parse_matrix
from cnnlab.conv.reference import conv2d, corr2d, max_pool2d
from cnnlab.errors import CnnlabError

X3 = parse_matrix("0 1 2; 3 4 5; 6 7 8")
K2 = parse_matrix("0 1; 2 3")


def _torch(x, w, **kw):
    return F.conv2d(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64), **kw).numpy()


# ----------------------------------------------------------------- L001 "2-D Cross Correlation"


def test_l001_cross_correlation_19_25_37_43():
    # L001 "2-D Cross Correlation": 0x0 + 1x1 + 3x2 + 4x3 = 19, ... = 25, 37, 43
    expected = np.array([[19, 25], [37, 43]])
    np.testing.assert_array_equal(corr2d(X3, K2), expected)
    np.testing.assert_array_equal(_torch(X3[None, None], K2[None, None])[0, 0], expected)
    e = explain_conv(X3, K2)
    assert [s.equation for s in e.steps] == [
        "0x0 + 1x1 + 3x2 + 4x3 = 19",
        "1x0 + 2x1 + 4x2 + 5x3 = 25",
        "3x0 + 4x1 + 6x2 + 7x3 = 37",
        "4x0 + 5x1 + 7x2 + 8x3 = 43",
    ]
    # L001 "2-D Convolution Layer": Y is (n_h - k_h + 1) x (n_w - k_w + 1)
    assert ar.conv_output_size(3, 2) == 3 - 2 + 1


def test_l001_padding_example():
    # L001 "Padding": the 3x3 input padded with one ring of zeros, same kernel -> 4x4
    expected = np.array([[0, 3, 8, 4], [9, 19, 25, 10], [21, 37, 43, 16], [6, 7, 8, 0]])
    np.testing.assert_array_equal(conv2d(X3[None, None], K2[None, None], padding=1)[0, 0], expected)
    np.testing.assert_array_equal(_torch(X3[None, None], K2[None, None], padding=1)[0, 0], expected)
    assert explain_conv(X3, K2, padding=1).steps[0].equation == "0x0 + 0x1 + 0x2 + 0x3 = 0"
    # (n_h - k_h + p_h + 1) with p_h = 2 rows in total
    assert ar.conv_output_size(3, 2, padding=1) == 3 - 2 + 2 + 1


def test_l001_stride_3_and_2():
    # L001 "Stride": strides of 3 (height) and 2 (width) on the padded input:
    # 0x0 + 0x1 + 1x2 + 2x3 = 8 and 0x0 + 6x1 + 0x2 + 0x3 = 6
    expected = np.array([[0, 8], [6, 8]])
    np.testing.assert_array_equal(conv2d(X3[None, None], K2[None, None], stride=(3, 2), padding=1)[0, 0], expected)
    np.testing.assert_array_equal(_torch(X3[None, None], K2[None, None], stride=(3, 2), padding=1)[0, 0], expected)
    eq = {(s.row, s.col): s.equation for s in explain_conv(X3, K2, stride=(3, 2), padding=1).steps}
    assert eq[(0, 1)] == "0x0 + 0x1 + 1x2 + 2x3 = 8"
    assert eq[(1, 0)] == "0x0 + 6x1 + 0x2 + 0x3 = 6"
    # floor((n_h - k_h + p_h + s_h)/s_h): floor((3 - 2 + 2 + 3)/3) = 2, floor((3 - 2 + 2 + 2)/2) = 2
    assert ar.conv_output_size(3, 2, 3, 1) == (3 - 2 + 2 + 3) // 3 == 2
    assert ar.conv_output_size(3, 2, 2, 1) == (3 - 2 + 2 + 2) // 2 == 2


def test_l001_two_channel_56_72_104_120():
    # L001 "Multiple Input Channels": (1x1 + 2x2 + 4x3 + 5x4) + (0x0 + 1x1 + 3x2 + 4x3) = 56
    x = parse_matrix("0 1 2; 3 4 5; 6 7 8 | 1 2 3; 4 5 6; 7 8 9")
    k = parse_matrix("0 1; 2 3 | 1 2; 3 4")
    expected = np.array([[56, 72], [104, 120]])
    np.testing.assert_array_equal(conv2d(x[None], k[None])[0, 0], expected)
    np.testing.assert_array_equal(_torch(x[None], k[None])[0, 0], expected)
    step = explain_conv(x, k).steps[0]
    assert [c.value for c in step.channels] == [19, 37]
    assert step.equation == "(0x0 + 1x1 + 3x2 + 4x3) + (1x1 + 2x2 + 4x3 + 5x4) = 19 + 37 = 56"


def test_l001_multiple_output_channels_and_1x1_is_dense():
    # L001 "Multiple Output Channels": kernel c_o x c_i x k_h x k_w, one output channel per 3-D kernel;
    # "1x1 Convolutional Layer": equal to a dense layer with n_h n_w x c_i input and c_o x c_i weight
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, 4, 5))
    w = rng.normal(size=(2, 3, 1, 1))
    dense = np.einsum("oc,chw->ohw", w[:, :, 0, 0], x[0])
    np.testing.assert_allclose(conv2d(x, w)[0], dense)
    np.testing.assert_allclose(_torch(x, w)[0], dense)


def test_l001_padding_shrinks_and_44_layers():
    # L001 "Padding": 32x32 input, 5x5 kernel: 28x28 after 1 layer, 4x4 after 7 layers
    n = 32
    sizes = []
    for _ in range(7):
        n = ar.conv_output_size(n, 5)
        sizes.append(n)
    assert sizes[0] == 28 and sizes[-1] == 4
    # L001 "Stride": "Given a 224x224 input with a 5x5 kernel, needs 44 layers to reduce the shape
    # to 4x4". Wrong: each layer removes 4 pixels, 224 - 4L = 4 gives L = 55 (44 layers leave 48x48).
    n, layers = 224, 0
    while n > 4:
        n = ar.conv_output_size(n, 5)
        layers += 1
    assert (layers, n) == (55, 4)
    n = 224
    for _ in range(44):
        n = ar.conv_output_size(n, 5)
    assert n == 48


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_l001_same_padding_even_kernel_ceil_top_floor_bottom():
    # L001 "Padding": p_h = k_h - 1; odd k_h: p_h/2 on both sides; even k_h: ceil(p_h/2) on top,
    # floor(p_h/2) at the bottom
    assert ar.padding_for("same", 3) == (1, 1)
    assert ar.padding_for("same", 4) == (2, 1)
    assert ar.padding_for("same", 2) == (1, 0)
    # PyTorch's padding="same" puts the extra row at the bottom instead
    assert ar.padding_for("same", 4, convention="torch") == (1, 2)
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    w = np.arange(16.0).reshape(1, 1, 4, 4)
    ours = conv2d(x, w, padding=(1, 2, 1, 2))
    np.testing.assert_array_equal(ours, _torch(x, w, padding="same"))
    lecture = conv2d(x, w, padding="same")
    assert lecture.shape == x.shape and not np.array_equal(lecture, ours)
    # the lecture's convention equals torch on the input padded (2, 1) rows and (2, 1) columns
    xp = F.pad(torch.tensor(x), (2, 1, 2, 1))
    np.testing.assert_array_equal(lecture, F.conv2d(xp, torch.tensor(w)).numpy())


def test_l001_complexity_1gflop_per_layer():
    # L001 "2-D Convolution Layer Summary": c_i = c_o = 100, k = 5, m = 64: 10 layers x 1M examples = 10 PF
    macs = ar.conv_macs(100, 100, 5, 64)
    assert macs == 1_024_000_000
    assert macs * 10 * 1_000_000 == pytest.approx(1e16, rel=0.03)
    # CPU 0.15 TF -> 18 h; GPU 12 TF -> 14 min
    assert macs * 1e7 / 0.15e12 / 3600 == pytest.approx(18.96, abs=0.01)
    assert macs * 1e7 / 12e12 / 60 == pytest.approx(14.2, abs=0.1)
    # The same slide gives the bias as "B: c_o x c_i"; a convolution has one bias per output channel
    assert ar.conv_params(100, 100, 5) - ar.conv_params(100, 100, 5, bias=False) == 100


def test_l001_max_pool_and_vertical_edge():
    # L001 "2-D Max Pooling": max(0, 1, 3, 4) = 4 (2x2 window, stride 1, on the 0..8 input)
    np.testing.assert_array_equal(max_pool2d(X3[None, None], 2, 1)[0, 0], [[4, 5], [7, 8]])
    assert explain_pool(X3, 2, 1).steps[0].equation == "max(0, 1, 3, 4) = 4"
    # L001 "Pooling": vertical edge detection, X = 4 rows of [1 1 0 0 0], kernel [1 -1] -> Y = [0 1 0 0]
    x = np.array([[1.0, 1, 0, 0, 0]] * 4)
    y = corr2d(x, np.array([[1.0, -1]]))
    np.testing.assert_array_equal(y, [[0, 1, 0, 0]] * 4)
    # "0 output with 1 pixel shift": the edge moves one column, so Y's 1 moves too
    shifted = corr2d(np.roll(x, 1, axis=1), np.array([[1.0, -1]]))
    assert shifted[0, 1] == 0 and shifted[0, 2] == 1
    # "2 x 2 max pooling ... Tolerant to 1 pixel shift": 2x2 stride 1 max pooling of Y gives 3x3 [1 1 0]
    # rows. The slide prints a 4x4 [1 1 1 0] for it, which is what a 3x3 window with padding 1 gives.
    pooled = max_pool2d(y[None, None], 2, 1)[0, 0]
    np.testing.assert_array_equal(pooled, [[1, 1, 0]] * 3)
    np.testing.assert_array_equal(max_pool2d(y[None, None], 3, 1, 1)[0, 0], [[1, 1, 1, 0]] * 4)
    # both the original and the shifted edge still give a 1 in pooled column 1
    assert max_pool2d(shifted[None, None], 2, 1)[0, 0][0, 1] == pooled[0, 1] == 1


def test_l001_kernels():
    # L001 "Examples": edge detection, sharpen, Gaussian blur 1/16 [1 2 1; 2 4 2; 1 2 1]
    np.testing.assert_array_equal(make_kernel("edge"), [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(make_kernel("sharpen"), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(make_kernel("gaussian") * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_l001_alexnet_vs_lenet_complexity_table():
    # L001 "Complexity": d2l's AlexNet (224x224 RGB, conv1 11x11 s4 -> 54x54) and LeNet (28x28, conv1 pad 2).
    alex = explain_shape(
        "conv 11 s4 p1 96; pool 3 s2; conv 5 p2 256; pool 3 s2; conv 3 p1 384; "
        "conv 3 p1 384; conv 3 p1 256; pool 3 s2; fc 4096; fc 4096",
        (3, 224, 224),
    )
    rows = {r.name: r for r in alex.rows}
    assert rows["conv1"].out_shape == (96, 54, 54)
    assert round(rows["conv1"].params, -3) == 35_000  # 35K
    assert round(rows["conv1"].macs / 1e6) == 102  # 101,616,768: the slide's 101M truncates
    assert rows["conv2"].params - 256 == 614_400  # 614K
    assert round(rows["conv2"].macs / 1e6) == 415  # 415M
    conv35 = sum(rows[f"conv{i}"].params for i in (3, 4, 5))
    assert round(conv35 / 1e6) == 3  # 3M
    assert sum(rows[f"conv{i}"].macs for i in (3, 4, 5)) == 445_906_944  # 445M (446M rounded)
    assert rows["fc6"].params - 4096 == 6400 * 4096  # Dense1 26M
    assert rows["fc7"].params - 4096 == 4096 * 4096  # Dense2 16M
    total_macs = sum(r.macs for r in alex.rows if r.kind in ("conv", "fc"))
    assert round(total_macs / 1e9) == 1  # 1G
    assert alex.params == 46_747_008
    assert int(alex.params / 1e6) == 46  # 46M (without the 1000-way layer)

    lenet = explain_shape("conv 5 p2 6; avgpool 2; conv 5 16; avgpool 2; fc 120; fc 84; fc 10", (1, 28, 28))
    rows = {r.name: r for r in lenet.rows}
    assert rows["conv1"].params - 6 == 150  # 150 (matches)
    assert rows["conv2"].params - 16 == 2_400  # 2.4K (matches)
    # The LeNet FLOP and dense columns are 10x too large in the lecture:
    assert rows["conv1"].macs == 117_600  # lecture printed 1.2M (0.12M is right: 28*28*6*25)
    assert rows["conv2"].macs == 240_000  # lecture printed 2.4M (10*10*16*150)
    assert rows["fc3"].params - 120 == 48_000  # lecture printed Dense1 0.48M (400*120 = 48K)
    assert rows["fc4"].params - 84 == 10_080  # lecture printed Dense2 0.1M (120*84 = 10K)
    assert lenet.params == 61_706  # lecture printed total 0.6M (d2l's LeNet has 61,706)
    conv_fc_macs = sum(r.macs for r in lenet.rows if r.kind in ("conv", "fc"))
    assert conv_fc_macs == 416_520  # lecture printed total 4M
    # ... and so the "Increase" row: params 46.7M/0.06M ~ 758x (lecture printed 11x), FLOPs 1G/0.42M ~
    # 2,400x (lecture printed 250x)
    assert round(alex.params / lenet.params) == 758
    assert round(total_macs / conv_fc_macs, -2) == 2400


def test_l001_inception_block_vs_3x3_and_5x5():
    # L001 "Inception Blocks": the first block (GoogLeNet 3a: 192 -> 64 + 128 + 32 + 32 = 256 at 28x28)
    cost = ar.inception_cost(192, 28, c1=64, c3_reduce=96, c3=128, c5_reduce=16, c5=32, pool_proj=32)
    assert cost.params == 163_328 and round(cost.params / 1e6, 2) == 0.16  # 0.16 M
    assert cost.macs == 128_049_152  # 128 M
    c3 = ar.conv_cost(192, 256, 3, 28, bias=False)
    c5 = ar.conv_cost(192, 256, 5, 28, bias=False)
    assert c3.params == 442_368 and c3.macs == 346_816_512  # 0.44 M, 346 M (347 M rounded)
    assert c5.params == 1_228_800 and c5.macs == 963_379_200  # 1.22 M (1.23 rounded), 963 M


def test_l001_separable_convolution_formulas():
    # L001 "Separable Convolutions": params k_h k_w c_i c_o, computation m_h m_w k_h k_w c_i c_o; all channels
    # separate: m_h m_w k_h k_w c
    assert ar.conv_params(8, 16, 3, bias=False) == 3 * 3 * 8 * 16
    assert ar.conv_macs(8, 16, 3, 10, 12) == 10 * 12 * 3 * 3 * 8 * 16
    assert ar.depthwise_cost(8, 3, 10, 12, bias=False).macs == 10 * 12 * 3 * 3 * 8


def test_l001_batch_norm_formula():
    # L001 "Batch Normalization": mu_B, sigma_B^2 = 1/|B| sum (x - mu)^2 + eps, x' = gamma (x - mu)/sigma + beta
    from cnnlab.conv.reference import batch_norm

    x = np.array([1.0, 2, 3, 6]).reshape(4, 1, 1, 1)
    y = batch_norm(x, training=True, eps=0.0, weight=np.array([2.0]), bias=np.array([1.0]))
    mu, var = 3.0, ((1 - 3) ** 2 + (2 - 3) ** 2 + 0 + (6 - 3) ** 2) / 4
    np.testing.assert_allclose(y.ravel(), 2 * (np.array([1, 2, 3, 6]) - mu) / np.sqrt(var) + 1)


# ----------------------------------------------------------------- L000


def test_l000_stride_output_sizes_and_stride_3_does_not_fit():
    # L000 "Spatial Dimension: Stride": 7x7 image, 3x3 filters: (7-3)/1+1 = 5, (7-3)/2+1 = 3, (7-3)/4+1 = 2
    assert [ar.conv_output_size(7, 3, s, strict=True) for s in (1, 2, 4)] == [5, 3, 2]
    # "The stride 3 does not fit for this case, and thus cannot be used."
    with pytest.raises(CnnlabError, match=r"stride 3 does not fit.*4/3"):
        ar.conv_output_size(7, 3, 3, strict=True)
    assert ar.conv_output_size(7, 3, 3) == 2  # without strict, PyTorch's floor drops the last pixel


def test_l000_sharpen_on_padded_image_114():
    # L000 "Spatial Dimension: Padding": the 5x5 image zero-padded to 7x7, kernel [0 -1 0; -1 5 -1; 0 -1 0]: 114
    img = parse_matrix("60 113 56 139 85; 73 121 54 84 128; 131 99 70 129 127; 80 57 115 69 134; 104 126 123 95 130")
    k = make_kernel("sharpen")
    out = conv2d(img[None, None], k[None, None], padding=1)[0, 0]
    assert out.shape == (5, 5)
    assert out[0, 0] == 114  # 5x60 - 113 - 73 = 114
    assert (
        explain_conv(img, k, padding=1).steps[0].equation
        == "0x0 + 0x(-1) + 0x0 + 0x(-1) + 60x5 + 113x(-1) + 0x0 + 73x(-1) + 121x0 = 114"
    )
    np.testing.assert_array_equal(out, _torch(img[None, None], k[None, None], padding=1)[0, 0])


def test_l000_handcrafted_filters():
    # L000 "Convolution - Classic": identity, mean blur 1/9, "shifted left by 1 pixel" [0 0 0; 1 0 0; 0 0 0],
    # sharpening (2 delta - 1/9 ones)
    x = np.arange(25.0).reshape(5, 5)
    assert np.array_equal(conv2d(x[None, None], make_kernel("identity")[None, None], padding=1)[0, 0], x)
    assert np.allclose(make_kernel("box"), np.full((3, 3), 1 / 9))
    lecture_kernel = np.array([[0.0, 0, 0], [1, 0, 0], [0, 0, 0]])
    # as a CNN layer (cross-correlation) that kernel moves the picture RIGHT: out[i, j] = x[i, j-1] ...
    moved = conv2d(x[None, None], lecture_kernel[None, None], padding=1)[0, 0]
    np.testing.assert_array_equal(moved[:, 1:], x[:, :-1])
    np.testing.assert_array_equal(make_kernel("shift-right"), lecture_kernel)
    # ... and left under the true (flipped) convolution the lecture defines
    flipped = conv2d(x[None, None], lecture_kernel[::-1, ::-1].copy()[None, None], padding=1)[0, 0]
    np.testing.assert_array_equal(flipped[:, :-1], x[:, 1:])
    np.testing.assert_allclose(make_kernel("sharpen-mean"), 2 * make_kernel("identity") - np.ones((3, 3)) / 9)


def test_l000_dot_product_75_and_mlp_cost():
    # L000 "Convolutional layer": a 5x5x3 filter is a dot product of 75 dimensions (+ bias)
    assert ar.conv_params(3, 1, 5) == 75 + 1
    # L000 "Recap: MLPs": a linear 1080p RGB -> 1080p RGB map: 38.7 trillion parameters, ~155 TB in FP32,
    # 77.4 trillion FLOPs
    n = 1920 * 1080 * 3
    assert round(n * n / 1e12, 1) == 38.7
    assert round(n * n * 4 / 1e12) == 155
    assert round(2 * n * n / 1e12, 1) == 77.4


# ----------------------------------------------------------------- L002


def test_l002_5x5_by_3x3_example():
    # L002 "Convolution": 5x5 input, 3x3 kernel (the subscripts) -> 12 12 17; 10 17 19; 9 6 14
    x = parse_matrix("3 3 2 1 0; 0 0 1 3 1; 3 1 2 2 3; 2 0 0 2 2; 2 0 0 0 1")
    k = parse_matrix("0 1 2; 2 2 0; 0 1 2")
    expected = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]])
    np.testing.assert_array_equal(corr2d(x, k), expected)
    np.testing.assert_array_equal(_torch(x[None, None], k[None, None])[0, 0], expected)


def test_l002_max_pool_4_5_7_8():
    # L002 "Pooling": 2x2 max pooling of 0..8 -> 4 5; 7 8 (stride 1)
    np.testing.assert_array_equal(max_pool2d(X3[None, None], 2, 1)[0, 0], [[4, 5], [7, 8]])


def test_l002_parameter_exercises():
    # L002 "Channel": 3x3 conv 128 -> 256: 128 x 256 x 3 x 3 = 294,912
    assert ar.conv_params(128, 256, 3, bias=False) == 294_912
    # "Padding (1), Stride (1), 3x3 Kernel": 3 x 3 x 128 x 64 = 73,728
    assert ar.conv_params(128, 64, 3, bias=False) == 73_728
    # L002 "Depth of the network": two 3x3 = 294,912 vs one 5x5 = 409,600, same 5x5 receptive field
    assert 2 * ar.conv_params(128, 128, 3, bias=False) == 294_912
    assert ar.conv_params(128, 128, 5, bias=False) == 409_600
    assert ar.receptive_field([(3,), (3,)])[-1].rf == 5 == ar.receptive_field([(5,)])[-1].rf
    # the parameters of a layer with (2 Delta + 1)^2 kernel taps (L002 "Convolutions (in CNNs)")
    assert ar.conv_params(1, 1, 2 * 2 + 1, bias=False) == (2 * 2 + 1) ** 2


def test_l002_cnn_3x3_stride2_pad1():
    # L002 "Convolutional Neural Network": 3x3 convolutions with stride 2 and padding 1 halve an even size
    assert [ar.conv_output_size(n, 3, 2, 1) for n in (32, 16, 8)] == [16, 8, 4]
    assert ar.conv_output_size(8, 2, 2) == 4  # 2x2 max pooling


def test_l002_alexnet_kernel_shapes():
    # L002 "Architecture" (two-GPU AlexNet): 96 kernels 11x11x3; 256 kernels 5x5x48; conv3 384 kernels;
    # conv4 384 kernels 3x3x192; conv5 256 kernels 3x3x192. The lecture gives conv3 as 3x3x128: in the paper
    # (Krizhevsky et al. 2012, section 3.5) conv3 is the layer that crosses GPUs, with kernels 3x3x256.
    assert ar.conv_params(96, 256, 5, groups=2, bias=False) == 256 * 5 * 5 * 48
    assert ar.conv_params(256, 384, 3, bias=False) == 384 * 3 * 3 * 256
    assert ar.conv_params(384, 384, 3, groups=2, bias=False) == 384 * 3 * 3 * 192
    assert ar.conv_params(384, 256, 3, groups=2, bias=False) == 256 * 3 * 3 * 192


def test_l002_lrn_formula_and_torch_convention():
    # L002 "Local Response Normalization": b = a / (k + alpha sum_{j=max(0,i-n/2)}^{min(N-1,i+n/2)} a_j^2)^beta
    from cnnlab.conv.reference import local_response_norm

    a = np.arange(1.0, 7.0).reshape(1, 6, 1, 1)
    b = local_response_norm(a, size=5, alpha=1e-4, beta=0.75, k=2.0)
    expected_0 = 1.0 / (2 + 1e-4 * (1 + 4 + 9)) ** 0.75  # channels 0..2 around channel 0
    expected_3 = 4.0 / (2 + 1e-4 * (4 + 9 + 16 + 25 + 36)) ** 0.75  # channels 1..5
    assert b[0, 0, 0, 0] == pytest.approx(expected_0) and b[0, 3, 0, 0] == pytest.approx(expected_3)
    # torch divides alpha by n: the same numbers need alpha * n there
    t = F.local_response_norm(torch.tensor(a), 5, alpha=5e-4, beta=0.75, k=2.0).numpy()
    np.testing.assert_allclose(b, t, rtol=1e-12)


def test_l002_overlapping_pooling():
    # L002 "Overlapping Pooling": 3x3 windows, stride 2 (overlap one pixel) on AlexNet's 55x55 -> 27x27
    assert ar.conv_output_size(55, 3, 2) == 27
    assert ar.conv_output_size(55, 2, 2) == 27  # non-overlapping 2x2 gives the same size


def test_l002_vgg19_has_144m_parameters():
    # L002 "Quiz": "VGGNet (19-layers) (110M)". VGG-19 (Simonyan & Zisserman 2015, configuration E) has
    # 143,667,240 parameters (torchvision's vgg19 too).
    stages = [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]
    layers = []
    for c, n in stages:
        layers += [f"conv 3 p1 {c}"] * n + ["pool 2"]
    e = explain_shape("; ".join(layers + ["fc 4096", "fc 4096", "fc 1000"]), (3, 224, 224))
    assert e.params == 143_667_240


# ----------------------------------------------------------------- L003


def test_l003_padding_kinds():
    # L003 1.1.2: valid (no padding, smaller), same (k - 1 in total, same size), full (bigger). The lecture
    # calls full padding "padding larger than k"; it is k - 1 per side (output n + k - 1), more only adds
    # outputs that see nothing but zeros.
    n, k = 10, 3
    assert ar.conv_output_size(n, k, padding=ar.padding_for("valid", k)) == n - k + 1
    assert sum(ar.padding_for("same", k)) == k - 1
    assert ar.conv_output_size(n, k, padding=ar.padding_for("same", k)) == n
    assert ar.conv_output_size(n, k, padding=ar.padding_for("full", k)) == n + k - 1
    x = np.ones((1, 1, n, n))
    full = conv2d(x, np.ones((1, 1, k, k)), padding="full")
    assert full[0, 0, 0, 0] == 1  # the corner sees exactly one input pixel
    wider = conv2d(x, np.ones((1, 1, k, k)), padding=k)
    assert wider[0, 0, 0, 0] == 0  # one more ring of padding: an output of zeros only


# ----------------------------------------------------------------- L004

SEITZ = parse_matrix("""0 0 0 0 0 0 0 0 0 0; 0 0 0 0 0 0 0 0 0 0; 0 0 0 90 90 90 90 90 0 0;
0 0 0 90 90 90 90 90 0 0; 0 0 0 90 90 90 90 90 0 0; 0 0 0 90 0 90 90 90 0 0; 0 0 0 90 90 90 90 90 0 0;
0 0 0 0 0 0 0 0 0 0; 0 0 90 0 0 0 0 0 0 0; 0 0 0 0 0 0 0 0 0 0""")


def test_l004_box_filter_10x10_to_8x8():
    # L004 "Image Filtering" / "Shrinking Due to Convolutions and Padding": 10x10 input, 1/9 box -> 8x8.
    # (Some of the lecture's animation frames print 11 columns or a 6-wide block; the 10x10 grid of
    # "Shrinking Due to Convolutions" is the one that gives the printed output.)
    expected = parse_matrix("""0 10 20 30 30 30 20 10; 0 20 40 60 60 60 40 20; 0 30 60 90 90 90 60 30;
        0 30 50 80 80 90 60 30; 0 30 50 80 80 90 60 30; 0 20 30 50 50 60 40 20; 10 20 30 30 30 30 20 10;
        10 10 10 0 0 0 0 0""")
    out = corr2d(SEITZ, make_kernel("box"))
    assert out.shape == (8, 8) and ar.conv_output_size(10, 3) == 10 - 3 + 1
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # padding P = (K-1)/2 keeps 10x10: W - K + 1 + 2P
    assert conv2d(SEITZ[None, None], make_kernel("box")[None, None], padding=1).shape[-2:] == (10, 10)


def test_l004_receptive_field_1_plus_L_times_K_minus_1():
    # L004 "Receptive Field": with L layers of K x K the receptive field is 1 + L (K - 1)
    for k in (3, 5, 7):
        for layers in range(1, 6):
            assert ar.receptive_field([(k, 1, k // 2)] * layers)[-1].rf == 1 + layers * (k - 1)


def test_l004_stride_9x9_5x5_stride_2():
    # L004 "Stride": 9x9 input, 5x5 filter (all 1/25), stride 2 -> 3x3 output: (W - K + 2P)/S + 1 = 3.
    assert ar.conv_output_size(9, 5, 2, strict=True) == 3
    # The slide's picture is garbled into 11 rows of 9 and its partial output "24 64 64 / 36 60" does not
    # follow from any 9x9 crop of it (searched with padding and transposition). On the first 9 rows the
    # formula gives:
    grid = parse_matrix("""0 0 0 0 0 0 0 0 0; 0 0 0 0 0 0 0 0 0; 0 0 0 0 0 0 0 0 0; 0 0 0 0 100 100 100 100 0;
        0 0 0 0 100 100 100 100 0; 0 0 0 0 100 100 100 100 0; 0 0 0 0 100 100 100 100 0; 0 0 0 0 100 0 100 100 0;
        0 0 0 0 100 100 100 100 0""")
    out = conv2d(grid[None, None], np.full((1, 1, 5, 5), 1 / 25), stride=2)[0, 0]
    np.testing.assert_allclose(out, [[8, 24, 32], [16, 48, 64], [20, 56, 76]])


def test_l004_parameter_exercise():
    # L004 "Computing the No. of Learnable Parameters": 28x28 grey, 6 filters 5x5, stride 1, padding 2.
    # The lecture computes "(28 - 5 + 2 x 1)/1 + 1 = 32 -> 6 x 32 x 32 = 6144": wrong twice (the padding
    # is 2, not 1; and 28 - 5 + 2 + 1 is 26, not 32). With padding 2: (28 - 5 + 4)/1 + 1 = 28.
    size = ar.conv_output_size(28, 5, 1, 2)
    assert size == 28
    assert 6 * size * size == 4_704  # lecture printed 6144
    assert ar.conv_params(1, 6, 5) == 156  # 26 x 6 = 156 (matches)
    assert ar.conv_params(3, 6, 5) == 456  # 76 x 6 = 456 (matches)
    # "Total multiply-add = 75 x 6144 = 460,800": 75 per output element is right, the count is not
    assert ar.conv_macs(3, 6, 5, size) == 75 * 4_704 == 352_800  # lecture printed 460,800


def test_l004_max_pool_6_8_3_4():
    # L004 "Max Pooling": 2x2 kernel, stride 2
    x = parse_matrix("1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4")
    np.testing.assert_array_equal(max_pool2d(x[None, None], 2, 2)[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_array_equal(F.max_pool2d(torch.tensor(x)[None, None], 2, 2)[0, 0].numpy(), [[6, 8], [3, 4]])
    # "Max Pooling Summary": H' = (H - K)/S + 1; no parameters
    assert ar.conv_output_size(4, 2, 2) == (4 - 2) // 2 + 1


ALEXNET = (
    "conv 11 s4 96; pool 3 s2; conv 5 p2 256; pool 3 s2; conv 3 p1 384; conv 3 p1 384; conv 3 p1 256; "
    "pool 3 s2; flatten; fc 4096; fc 4096; fc 1000"
)


def test_l004_alexnet_table():
    # L004 "AlexNet" table (input 3x227x227): output size, memory (KB), params (k), MFLOPs (multiply-adds)
    e = explain_shape(ALEXNET, (3, 227, 227))
    got = {r.name: (r.out_shape, round(r.memory_kb), round(r.params / 1000), round(r.macs / 1e6)) for r in e.rows}
    assert got["conv1"] == ((96, 55, 55), 1134, 35, 105)
    assert e.rows[0].params == 34_944 and e.rows[0].macs == 105_415_200
    assert got["maxpool1"] == ((96, 27, 27), 273, 0, 1)  # 629,856 = 0.6 MFLOP (the table rounds it to 0)
    assert e.rows[1].macs == 629_856 and e.rows[1].memory_kb == 273.375
    assert got["conv2"] == ((256, 27, 27), 729, 615, 448)
    assert got["maxpool2"] == ((256, 13, 13), 169, 0, 0)
    assert got["conv3"] == ((384, 13, 13), 254, 885, 150)
    assert got["conv4"] == ((384, 13, 13), 254, 1327, 224)
    assert got["conv5"] == ((256, 13, 13), 169, 885, 150)
    assert got["maxpool5"] == ((256, 6, 6), 36, 0, 0)
    assert got["flatten"] == ((9216,), 36, 0, 0)
    assert got["fc6"] == ((4096,), 16, 37_753, 38)
    assert e.rows[-3].params == 37_752_832 and e.rows[-3].macs == 37_748_736
    assert got["fc7"] == ((4096,), 16, 16_781, 17)
    # fc8: 4096 x 1000 + 1000 = 4,097,000 parameters; the lecture's table prints 4,096 (k)
    assert e.rows[-1].params == 4_097_000 and got["fc8"][2] == 4097


def test_l004_alexnet_conv1_pad_mixup():
    # L004: the conv1 row prints pad 2 but output 55, and the pool1 slide computes (56 - 3)/2 + 1 = 27.5 -> 27
    # while its row says the input is 55. Pad 0 gives 55 (the slide's own computation); pad 2 gives 56.
    assert ar.conv_output_size(227, 11, 4, 0) == 55
    assert ar.conv_output_size(227, 11, 4, 2) == 56
    assert ar.conv_output_size(56, 3, 2) == 27 == ar.conv_output_size(55, 3, 2)
    # both paddings fit stride 4 exactly ((227 - 11)/4 = 54, (227 + 4 - 11)/4 = 55): the sizes differ by one
    assert ar.conv_output_size(227, 11, 4, 0, strict=True) == 55
    assert ar.conv_output_size(227, 11, 4, 2, strict=True) == 56
    # with pad 2 the rest of the table shifts: pool1 27 (floor), conv2 27, ... (the table is right for pad 0)
    e = explain_shape(ALEXNET, (3, 227, 227))
    assert e.rows[0].padding == (0, 0, 0, 0) and e.rows[0].out_shape == (96, 55, 55)


def test_l004_googlenet_stem():
    # L004 "Stem Network in GoogLeNet": conv 7x7 s2 p3 -> pool 3 s2 -> conv 1x1 -> conv 3x3 -> pool 3 s2.
    # The pooling rows print 56 and 28 with pad blank/0: floor((112 - 3)/2) + 1 = 55 and (56 - 3)/2 + 1 = 27.5 ->
    # 27. The printed sizes need pad 1 (or ceil mode, as torchvision's GoogLeNet uses):
    assert ar.conv_output_size(112, 3, 2, 0) == 55 and ar.conv_output_size(112, 3, 2, 1) == 56
    assert ar.conv_output_size(112, 3, 2, 0, ceil_mode=True) == 56
    assert ar.conv_output_size(56, 3, 2, 0) == 27 and ar.conv_output_size(56, 3, 2, 1) == 28
    e = explain_shape("conv 7 s2 p3 64; pool 3 s2 p1; conv 1 64; conv 3 p1 192; pool 3 s2 p1", (3, 224, 224))
    got = [(r.out_shape, round(r.memory_kb), round(r.params / 1000), round(r.macs / 1e6)) for r in e.rows]
    assert got == [
        ((64, 112, 112), 3136, 9, 118),
        ((64, 56, 56), 784, 0, 2),
        ((64, 56, 56), 784, 4, 13),
        ((192, 56, 56), 2352, 111, 347),
        ((192, 28, 28), 588, 0, 1),
    ]
    assert round(e.memory_kb / 1024, 1) == 7.5  # Memory: 7.5 MB
    assert round(e.params / 1000) == 124  # Params: 124K
    # "MFLOP: 418": the rows add up to 481 (118 + 2 + 13 + 347 + 1); digits swapped
    assert e.macs == 480_836_608 and round(e.macs / 1e6) == 481


def test_l004_vgg16_to_28x28_comparison():
    # L004 "Compare VGG-16: Memory 42.9 MB (5.7x), Params 1.1M (8.9x), MFLOP 7485 (17.8x)". Those figures
    # count six convolutions (two per stage) and no pooling outputs; VGG-16's third stage has three.
    six = explain_shape(
        "conv 3 p1 64; conv 3 p1 64; pool 2; conv 3 p1 128; conv 3 p1 128; pool 2; conv 3 p1 256; conv 3 p1 256",
        (3, 224, 224),
    )
    convs = [r for r in six.rows if r.kind == "conv"]
    assert round(sum(r.memory_kb for r in convs) / 1024, 1) == 42.9
    assert round(sum(r.params for r in convs) / 1e6, 1) == 1.1
    assert round(sum(r.macs for r in convs) / 1e6) == 7485  # 7,485,456,384
    full = explain_shape(
        "conv 3 p1 64; conv 3 p1 64; pool 2; conv 3 p1 128; conv 3 p1 128; pool 2; "
        "conv 3 p1 256; conv 3 p1 256; conv 3 p1 256; pool 2",
        (3, 224, 224),
    )
    assert full.rows[-1].out_shape == (256, 28, 28)
    assert full.params == 1_735_488  # 1.7M, not 1.1M
    assert round(full.memory_kb / 1024, 1) == 51.3
    conv_macs = sum(r.macs for r in full.rows if r.kind == "conv")
    assert conv_macs == 7_485_456_384 + 56 * 56 * 256 * 2304 == 9_335_144_448  # 9,335 MFLOP, not 7,485
    # with the stem's 481 MFLOP the ratio is 7485/481 = 15.6x (lecture: 17.8x, from its 418)
    assert round(7485 / 481, 1) == 15.6


def test_l004_googlenet_head():
    # L004 "GoogLeNet: Global Average Pooling": avg-pool 7x7 on 1024x7x7 -> 1024x1x1 (4 KB), fc 1024 -> 1000
    e = explain_shape("avgpool 7 s1; fc 1000", (1024, 7, 7))
    pool, fc = e.rows
    assert pool.out_shape == (1024, 1, 1) and round(pool.memory_kb) == 4 and round(pool.macs / 1e6) == 0
    assert fc.params == 1_025_000 and round(fc.macs / 1e6) == 1
    # the fc row prints memory 0 KB: 1000 float32 outputs are 3.9 KB
    assert round(fc.memory_kb, 1) == 3.9
    gap = explain_shape("gap; fc 1000", (1024, 7, 7))
    assert gap.rows[0].out_shape == (1024, 1, 1)


def test_l004_vgg_rules_and_5x5_vs_two_3x3():
    # L004 "VGGNet": one 5x5 conv (25C^2 params, 25C^2HW FLOPs) vs two 3x3 (18C^2, 18C^2HW)
    c, h = 64, 56
    assert ar.conv_params(c, c, 5, bias=False) == 25 * c * c
    assert ar.basic_block_cost(c, h).params == 18 * c * c
    assert ar.basic_block_cost(c, h).macs == 18 * c * c * h * h
    # after a pool, double the channels: C x 2H x 2W (9C^2 params, 36HWC^2 FLOPs) vs 2C x H x W (36C^2, 36HWC^2)
    assert ar.conv_macs(c, c, 3, 2 * h) == 36 * h * h * c * c == ar.conv_macs(2 * c, 2 * c, 3, h)
    assert ar.conv_params(2 * c, 2 * c, 3, bias=False) == 36 * c * c
    # memory: 4HWC vs 2HWC elements
    assert c * (2 * h) ** 2 == 4 * h * h * c and 2 * c * h * h == 2 * h * h * c


def test_l004_vgg16_gflops_and_resnets():
    # L004 "Residual Networks": "VGG-16: GFLOP 13.6". VGG-16 does 15.47 G multiply-adds at 224x224
    # (Simonyan & Zisserman 2015, configuration D; torchvision lists 15.47 GFLOPS); ResNet-18 1.8 and
    # ResNet-34 3.6 are right (torchvision 1.81, 3.66).
    stages = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
    layers = []
    for c, n in stages:
        layers += [f"conv 3 p1 {c}"] * n + ["pool 2"]
    e = explain_shape("; ".join(layers + ["fc 4096", "fc 4096", "fc 1000"]), (3, 224, 224))
    macs = sum(r.macs for r in e.rows if r.kind in ("conv", "fc"))
    assert round(macs / 1e9, 2) == 15.47
    assert e.params == 138_357_544


def test_l004_bottleneck_17_vs_basic_18():
    # L004 "Bottleneck Block": basic 18HWC^2, bottleneck 4HWC^2 + 9HWC^2 + 4HWC^2 = 17HWC^2
    c, h = 64, 56
    b = ar.bottleneck_cost(c, h)
    assert b.macs == 17 * h * h * c * c
    assert b.parts["reduce1x1"][1] == 4 * h * h * c * c and b.parts["conv3x3"][1] == 9 * h * h * c * c
    assert ar.basic_block_cost(c, h).macs == 18 * h * h * c * c
    # "Deeper residual module": 256x256x3x3 ~ 600K vs 256x64 ~ 16K + 64x64x3x3 ~ 36K + 64x256 ~ 16K ~ 70K
    assert ar.conv_params(256, 256, 3, bias=False) == 589_824
    parts = [
        ar.conv_params(256, 64, 1, bias=False),
        ar.conv_params(64, 64, 3, bias=False),
        ar.conv_params(64, 256, 1, bias=False),
    ]
    assert parts == [16_384, 36_864, 16_384] and sum(parts) == 69_632


def test_l004_resnext_groups():
    # L004 "Improving ResNet: ResNeXt": G(4HWcC + 9HWc^2 + 4HWcC) ~ 17HWC^2; examples C=64 with G=4, c=24 and
    # G=32, c=4 (approximately equal costs)
    c_, h = 64, 56
    for g, width in ((4, 24), (32, 4)):
        cost = ar.bottleneck_cost(c_, h, width=g * width, groups=g)
        assert cost.macs == g * (4 * h * h * width * c_ + 9 * h * h * width * width + 4 * h * h * width * c_)
        assert cost.macs / (17 * h * h * c_ * c_) == pytest.approx(1, abs=0.01)


def test_l004_group_and_depthwise_convolutions():
    # L004 "Group Convolutions": G parallel convolutions, each sees C_in/G channels and makes C_out/G.
    # The lecture prints the weight as "G x (C_out/G) x (C_in x G) x K x K" and the FLOPs as
    # "C_out x C_in x K^2 x H x W" for any G; both should have C_in/G: weight G x (C_out/G) x (C_in/G) x K x K,
    # FLOPs C_out x C_in x K^2 x H' x W' / G.
    c_in, c_out, g, k, h = 32, 64, 4, 3, 10
    assert ar.conv_params(c_in, c_out, k, groups=g, bias=False) == g * (c_out // g) * (c_in // g) * k * k
    assert ar.conv_macs(c_in, c_out, k, h, groups=g) == c_out * c_in * k * k * h * h // g
    # a group convolution is G convolutions side by side
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 8, 5, 5))
    w = rng.normal(size=(6, 4, 3, 3))
    y = conv2d(x, w, groups=2)
    np.testing.assert_allclose(y[:, :3], conv2d(x[:, :4], w[:3]))
    np.testing.assert_allclose(y[:, 3:], conv2d(x[:, 4:], w[3:]))
    # depthwise: G = C_in, C_out = n C_in: each input channel convolved with n filters
    wd = rng.normal(size=(16, 1, 3, 3))
    yd = conv2d(x, wd, groups=8)
    np.testing.assert_allclose(yd[:, 2:4], conv2d(x[:, 1:2], wd[2:4]))


def test_l004_mobilenet_speedup_tends_to_9():
    # L004 "MobileNets": standard 9C^2HW vs depthwise separable (9C + C^2)HW; speed-up -> 9 as C grows
    h = 14
    for c in (32, 256, 1024):
        std = ar.conv_macs(c, c, 3, h)
        sep = ar.separable_cost(c, c, 3, h)
        assert std == 9 * c * c * h * h and sep.macs == (9 * c + c * c) * h * h
        assert std / sep.macs == pytest.approx(9 * c / (9 + c))
    assert ar.conv_macs(1024, 1024, 3, h) / ar.separable_cost(1024, 1024, 3, h).macs > 8.9


def test_l004_zfnet_conv1():
    # L004 "ZFNet": conv1 7x7 stride 2 instead of 11x11 stride 4 (downsampling by 2 only). ZFNet
    # (Zeiler & Fergus 2013, Figure 3): 224 -> 110 with 7x7 s2 (padding 1)
    assert ar.conv_output_size(224, 7, 2, 1) == 110
    assert ar.conv_output_size(227, 11, 4) == 55


def test_l004_linear_classifier_scores():
    # L004 "Linear Classifier" (cs231n's cat/dog/ship image): W x + b. A linear layer is a 1x1 convolution
    # on a 1x1 image. The lecture prints the ship score as 61.95: 0x56 + 0.25x231 + 0.2x24 - 0.3x2 - 1.2 = 60.75.
    w = np.array([[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0, 0.25, 0.2, -0.3]])
    x = np.array([56.0, 231, 24, 2]).reshape(1, 4, 1, 1)
    b = np.array([1.1, 3.2, -1.2])
    scores = conv2d(x, w[:, :, None, None], b).ravel()
    np.testing.assert_allclose(scores, [-96.8, 437.9, 60.75])


def test_l004_googlenet_body_shapes_reach_the_head():
    # L004 "GoogLeNet" / L001 "GoogLeNet: 5 stages with 9 inception blocks": the body's shapes follow from
    # the formulas and GoogLeNet's Table 1 (Szegedy et al. 2014): each module concatenates c1 + c3 + c5 +
    # pool_proj channels at unchanged size; 3x3 stride-2 max pools (ceil mode) halve 28 -> 14 -> 7, which is
    # the 1024 x 7 x 7 input of the head on lecture 004's "Global Average Pooling" slide.
    table = {
        "3a": (64, 96, 128, 16, 32, 32),
        "3b": (128, 128, 192, 32, 96, 64),
        "4a": (192, 96, 208, 16, 48, 64),
        "4b": (160, 112, 224, 24, 64, 64),
        "4c": (128, 128, 256, 24, 64, 64),
        "4d": (112, 144, 288, 32, 64, 64),
        "4e": (256, 160, 320, 32, 128, 128),
        "5a": (256, 160, 320, 32, 128, 128),
        "5b": (384, 192, 384, 48, 128, 128),
    }
    expected_out = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832, "5b": 1024}
    c, size = 192, 28
    for name, (c1, c3r, c3, c5r, c5, pp) in table.items():
        if name in ("4a", "5a"):
            size = ar.conv_output_size(size, 3, 2, ceil_mode=True)
        cost = ar.inception_cost(c, size, c1, c3r, c3, c5r, c5, pp)
        assert cost.macs == size * size * cost.params  # every conv of the module runs at size x size
        c = c1 + c3 + c5 + pp
        assert c == expected_out[name]
    assert (c, size) == (1024, 7)
