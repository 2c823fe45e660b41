"""Explanations as data, and the classic filters on real pictures (torch checked against the reference)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from cnnlab.conv import filters as fl
from cnnlab.conv.explain import (
    explain_conv,
    explain_pool,
    explain_shape,
    parse_input_shape,
    render_conv,
    render_pool,
    render_shape,
)
from cnnlab.conv.matrices import parse_matrix
from cnnlab.conv.reference import avg_pool2d, conv2d, max_pool2d
from cnnlab.errors import CnnlabError, UnknownNameError

X3 = parse_matrix("0 1 2; 3 4 5; 6 7 8")
K2 = parse_matrix("0 1; 2 3")


def test_explain_conv_data_matches_reference():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(2, 5, 6)).astype(float)
    k = rng.integers(-2, 3, size=(3, 2, 3, 2)).astype(float)
    e = explain_conv(x, k, bias=[1, 0, -1], stride=(2, 1), padding=(1, 0, 0, 1), dilation=(1, 2))
    ref = conv2d(x[None], k, np.array([1.0, 0, -1]), (2, 1), (1, 0, 0, 1), (1, 2))[0]
    np.testing.assert_array_equal(e.output, ref)
    assert len(e.steps) == ref.size
    s = e.steps[0]
    assert s.value == ref[0, 0, 0] == sum(c.value for c in s.channels) + s.bias
    assert s.cols == [0, 2]  # dilation 2 spaces the taps
    d = e.to_dict()
    json.dumps(d)
    assert d["sizes"][0]["text"] == "(5 - 3 + 1 + 0)/2 + 1 = 2.5 -> floor -> 2"
    assert d["steps"][0]["equation"].endswith(f"= {int(ref[0, 0, 0])}")


def test_explain_conv_text_like_the_slides():
    text = render_conv(explain_conv(X3, K2))
    assert "height: (3 - 2 + 2x0)/1 + 1 = 2" in text
    assert "out[0, 0] = 0x0 + 1x1 + 3x2 + 4x3 = 19" in text
    assert text.rstrip().endswith("19 25\n37 43")
    # a 2-D kernel on a 3-channel input is used on each channel and the results added
    e = explain_conv(np.stack([X3, X3, X3]), K2)
    assert e.output[0, 0, 0] == 57 and len(e.steps[0].channels) == 3
    # bias and negative numbers
    e = explain_conv(parse_matrix("1 -2"), parse_matrix("-1 3"), bias=0.5)
    assert e.steps[0].equation == "1x(-1) + (-2)x3 + 0.5 = -6.5"


def test_explain_conv_max_steps():
    e = explain_conv(np.ones((6, 6)), np.ones((2, 2)))
    text = render_conv(e, max_steps=3)
    assert "... 22 more output element(s)" in text and text.count("out[") == 3


def test_explain_conv_errors():
    with pytest.raises(CnnlabError, match=r"the 3x4 kernel is larger than the input 2x3"):
        explain_conv(np.zeros((2, 3)), np.zeros((3, 4)))
    with pytest.raises(CnnlabError, match=r"larger than the padded input 4x5 \(2x3 \+ padding\)"):
        explain_conv(np.zeros((2, 3)), np.zeros((5, 5)), padding=1)
    with pytest.raises(CnnlabError, match=r"the 3x3 kernel \(dilated to 5x5\) is larger"):
        explain_conv(np.zeros((4, 4)), np.zeros((3, 3)), dilation=2)
    with pytest.raises(CnnlabError, match="kernel has 2 channel"):
        explain_conv(np.zeros((3, 4, 4)), np.zeros((2, 2, 2)))
    with pytest.raises(CnnlabError, match="stride 3 does not fit"):
        explain_conv(np.zeros((7, 7)), np.zeros((3, 3)), stride=3, strict=True)
    with pytest.raises(CnnlabError, match="stride must be at least 1"):
        explain_conv(X3, K2, stride=0)


def test_explain_pool_max_avg_padding_ceil():
    x = parse_matrix("1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4")
    e = explain_pool(x, 2)
    assert [s.equation for s in e.steps] == [
        "max(1, 1, 5, 6) = 6",
        "max(2, 4, 7, 8) = 8",
        "max(3, 2, 1, 2) = 3",
        "max(1, 0, 3, 4) = 4",
    ]
    a = explain_pool(x, 2, mode="avg")
    assert a.steps[0].equation == "(1 + 1 + 5 + 6) / 4 = 3.25"
    for kw in (
        dict(kernel=3, stride=2, padding=1),
        dict(kernel=3, stride=2, ceil_mode=True),
        dict(kernel=2, stride=3, padding=1, ceil_mode=True),
    ):
        e = explain_pool(x, mode="max", **kw)
        np.testing.assert_array_equal(
            e.output,
            max_pool2d(x[None, None], kw["kernel"], kw["stride"], kw.get("padding", 0), 1, kw.get("ceil_mode", False))[
                0
            ],
        )
        e = explain_pool(x, mode="avg", **kw)
        np.testing.assert_allclose(
            e.output,
            avg_pool2d(x[None, None], kw["kernel"], kw["stride"], kw.get("padding", 0), kw.get("ceil_mode", False))[0],
        )
    text = render_pool(explain_pool(x, 3, 2, ceil_mode=True))
    assert "(4 - 3 + 2x0)/2 + 1 = 1.5 -> ceil -> 2" in text
    with pytest.raises(CnnlabError, match="more than half the window"):
        explain_pool(x, 2, padding=2)
    with pytest.raises(UnknownNameError):
        explain_pool(x, 2, mode="median")
    with pytest.raises(CnnlabError, match="pooling window is larger than the input 4x4"):
        explain_pool(x, 5)
    json.dumps(explain_pool(x, 2).to_dict())


def test_explain_shape_syntax():
    e = explain_shape(
        "conv 3 p1 32; bn; relu; conv 3 s2 p1 dw; conv 1 64 nobias; conv 1x7 p0,3 48; conv 3 d2 same 8; "
        "conv 4 same 8; maxpool 3 s2 p1; conv 3 p1 g4 16; avgpool 2; gap; flatten; fc 10",
        (3, 32, 32),
    )
    shapes = [r.out_shape for r in e.rows]
    assert shapes == [
        (32, 32, 32),
        (32, 32, 32),
        (32, 32, 32),
        (32, 16, 16),
        (64, 16, 16),
        (48, 16, 16),
        (8, 16, 16),
        (8, 16, 16),
        (8, 8, 8),
        (16, 8, 8),
        (16, 4, 4),
        (16, 1, 1),
        (16,),
        (10,),
    ]
    rows = {r.name: r for r in e.rows}
    assert e.rows[1].params == 64  # bn: gamma and beta per channel
    assert e.rows[3].groups == 32 and e.rows[3].params == 32 * 9 + 32
    assert e.rows[4].params == 32 * 64  # nobias
    assert e.rows[5].kernel == (1, 7) and e.rows[5].padding == (0, 0, 3, 3)
    assert e.rows[7].padding == (2, 1, 2, 1)  # lecture 001: even kernel, extra on top/left
    assert e.rows[9].params == 16 * 2 * 9 + 16  # groups 4: 8/4 = 2 input channels per group
    assert rows["fc8"].params == 16 * 10 + 10
    assert e.params == sum(r.params for r in e.rows)
    json.dumps(e.to_dict())
    text = render_shape(e)
    assert "total:" in text and "output sizes" in text


@pytest.mark.parametrize(
    "spec, message",
    [
        ("conv 3", "how many output channels"),
        ("conv s2 8", "the kernel size must come first"),
        ("conv 3 q2 8", "cannot read 'q2'"),
        ("convv 3 8", "unknown layer 'convv' in 'convv 3 8'; did you mean conv?"),
        ("fc 10; conv 3 8", "needs a C x H x W input"),
        ("conv 9 8", r"larger than the padded input 5"),
        ("conv 0 8", "kernel size must be at least 1"),
        ("conv 3 s0 8", "stride must be at least 1"),
        ("pool 2 s2", "(input 4x5x5): stride 2 does not fit"),
        ("", "the layer stack is empty"),
        ("fc x", "write 'fc N'"),
    ],
)
def test_explain_shape_errors(spec, message):
    with pytest.raises(CnnlabError, match=re.escape(message) if "larger" not in message else message):
        explain_shape(spec, (4, 5, 5), strict=True)


def test_parse_input_shape():
    assert parse_input_shape("3x227x227") == (3, 227, 227)
    assert parse_input_shape("227") == (3, 227, 227)
    assert parse_input_shape("1x28") == (1, 28, 28)
    with pytest.raises(CnnlabError, match="input height must be at least 1"):
        parse_input_shape("3x0x5")
    with pytest.raises(CnnlabError, match="not CxHxW"):
        parse_input_shape("3xax5")


# ------------------------------------------------------------------ filters


@pytest.fixture(scope="module")
def astronaut_crop():
    return fl.load_image("skimage:astronaut")[100:124, 180:210]


@pytest.mark.parametrize("name", sorted(fl.FILTERS))
@pytest.mark.parametrize("border", fl.BORDERS)
def test_every_filter_torch_equals_reference(name, border, astronaut_crop):
    k = fl.make_kernel(name)
    fast = fl.apply_filter(astronaut_crop, k, border)
    slow = fl.reference_filter(astronaut_crop, k, border)
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-9)
    expected = astronaut_crop.shape[:2] if border != "valid" else (22, 28)
    assert fast.shape[:2] == expected and fast.shape[2] == 3


def test_filters_behave(astronaut_crop):
    img = astronaut_crop.astype(float)
    np.testing.assert_array_equal(fl.apply_filter(img, fl.make_kernel("identity")), img)
    # shift-left: out[i, j] = x[i, j+1]; with --convolve the lecture's kernel shifts left too
    left = fl.apply_filter(img, fl.make_kernel("shift-left"))
    np.testing.assert_array_equal(left[:, :-1], img[:, 1:])
    np.testing.assert_array_equal(fl.apply_filter(img, fl.make_kernel("shift-right"), convolve=True), left)
    np.testing.assert_array_equal(fl.apply_filter(img, fl.make_kernel("shift-up"))[:-1], img[1:])
    np.testing.assert_array_equal(fl.apply_filter(img, fl.make_kernel("shift-down"))[1:], img[:-1])
    # colour: each channel on its own
    for c in range(3):
        np.testing.assert_allclose(
            fl.apply_filter(img, fl.make_kernel("sharpen"))[..., c],
            fl.apply_filter(img[..., c], fl.make_kernel("sharpen")),
        )
    # blur kernels sum to 1: a constant image stays constant away from zero borders, everywhere with replicate
    flat = np.full((9, 9), 7.0)
    for name, kw in (("box", {"size": 5}), ("gaussian", {"size": 7, "sigma": 1.5}), ("sharpen-mean", {})):
        np.testing.assert_allclose(fl.apply_filter(flat, fl.make_kernel(name, **kw), "replicate"), flat)
    # edges give zero on a flat image
    np.testing.assert_allclose(fl.apply_filter(flat, fl.make_kernel("edge"), "reflect"), 0)
    np.testing.assert_allclose(fl.apply_filter(flat, fl.make_kernel("sobel-x"), "valid"), 0)
    # sobel-x answers to a vertical edge, sobel-y does not
    step = np.zeros((6, 6))
    step[:, 3:] = 1
    assert np.abs(fl.apply_filter(step, fl.make_kernel("sobel-x"), "valid")).max() == 4
    assert np.abs(fl.apply_filter(step, fl.make_kernel("sobel-y"), "valid")).max() == 0


def test_gaussian_kernel_and_even_kernels():
    g = fl.gaussian_kernel(5, 1.0)
    assert g.sum() == pytest.approx(1) and g[2, 2] == g.max() and np.allclose(g, g.T)
    np.testing.assert_array_equal(fl.gaussian_kernel(5) * 256, np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]))
    # an even kernel keeps the size; the extra padding row/column goes on top/left (lecture 001)
    x = np.arange(16.0).reshape(4, 4)
    out = fl.apply_filter(x, np.ones((2, 2)))
    assert out.shape == (4, 4)
    assert out[0, 0] == x[0, 0] and out[3, 3] == x[2:4, 2:4].sum()
    with pytest.raises(CnnlabError, match="sigma must be positive"):
        fl.gaussian_kernel(3, 0)
    with pytest.raises(CnnlabError, match="takes no size"):
        fl.make_kernel("sharpen", size=5)
    with pytest.raises(CnnlabError, match="filter size must be at least 1"):
        fl.make_kernel("box", size=0)
    with pytest.raises(UnknownNameError, match="unknown filter 'sharpn'") as e:
        fl.get_filter("sharpn")
    assert "sharpen" in e.value.hint


def test_to_uint8_modes():
    r = np.array([[-300.0, -10, 0], [10.4, 254.6, 400]])
    np.testing.assert_array_equal(fl.to_uint8(r, "clip"), [[0, 0, 0], [10, 255, 255]])
    np.testing.assert_array_equal(fl.to_uint8(r, "abs"), [[255, 10, 0], [10, 255, 255]])
    n = fl.to_uint8(r, "normalize")
    assert n.min() == 0 and n.max() == 255


def test_images_by_name_and_file(tmp_path):
    cam = fl.load_image("skimage:camera")
    assert cam.shape == (512, 512, 1) and cam.dtype == np.uint8
    for name in ("astronaut", "coffee", "chelsea"):
        assert fl.load_image(f"skimage:{name}").shape[2] == 3
    assert fl.load_image("skimage:coffee", grey=True).shape == (400, 600, 1)
    assert fl.load_image("skimage:coffee", max_size=60).shape == (40, 60, 3)
    with pytest.raises(UnknownNameError, match="camra"):
        fl.load_image("skimage:camra")
    p = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(p)
    assert fl.load_image(p).shape == (5, 7, 3)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(CnnlabError, match="broken.png: not a readable image"):
        fl.load_image(bad)
    with pytest.raises(CnnlabError, match="image file not found: .*nothere.jpg"):
        fl.load_image(tmp_path / "nothere.jpg")


def test_run_filter_custom_kernel_and_compare(tmp_path):
    res = fl.run_filter("custom", "skimage:camera", kernel="0 -1 0; -1 5 -1; 0 -1 0", max_size=64)
    same = fl.run_filter("sharpen", "skimage:camera", max_size=64)
    np.testing.assert_array_equal(res.picture, same.picture)
    edge = fl.run_filter("edge", "skimage:camera", max_size=64)
    assert edge.scale == "abs"
    cmp = fl.compare_image(res.image, res.picture)
    assert cmp.shape == (64 + 18, 64 + 8 + 64)
    small = fl.run_filter("box", "skimage:camera", size=5, border="valid", max_size=64)
    assert small.picture.shape == (60, 60, 1)
    assert fl.compare_image(small.image, small.picture).shape == (64 + 18, 64 + 8 + 64)
    assert fl.compare_image(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 1), np.uint8)).shape == (22, 16, 3)
    with pytest.raises(CnnlabError, match="--kernel must be one matrix"):
        fl.run_filter("custom", "skimage:camera", kernel="1 0; 0 1 | 1 0; 0 1")
    with pytest.raises(CnnlabError, match=r"the 9x9 kernel is larger than the image \(4x4\)"):
        fl.apply_filter(np.zeros((4, 4)), np.ones((9, 9)), "valid")
    with pytest.raises(CnnlabError, match="reflect border needs an image larger"):
        fl.apply_filter(np.zeros((2, 2)), np.ones((5, 5)), "reflect")
