"""Arithmetic helpers and matrix parsing: exact values and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.conv import arithmetic as ar
from cnnlab.conv.matrices import format_matrix, load_matrix, parse_matrix
from cnnlab.errors import CnnlabError, UnknownNameError


def test_padding_modes():
    assert ar.padding_for("valid", 5) == (0, 0)
    assert ar.padding_for("same", 5) == (2, 2)
    assert ar.padding_for("full", 5) == (4, 4)
    assert ar.padding_for("same", 3, dilation=2) == (2, 2)  # dilated 3x3 spans 5
    assert ar.padding_for("SAME", 6) == (3, 2)
    with pytest.raises(UnknownNameError, match="padding mode"):
        ar.padding_for("sme", 3)
    assert ar.resolve_padding("same", 3) == (1, 1) and ar.resolve_padding((0, 2), 3) == (0, 2)


@pytest.mark.parametrize(
    "kwargs, rule",
    [
        (dict(size=0, kernel=3), "input size must be at least 1"),
        (dict(size=7, kernel=0), "kernel size must be at least 1"),
        (dict(size=7, kernel=3, stride=0), "stride must be at least 1"),
        (dict(size=7, kernel=3, stride=-2), "stride must be at least 1"),
        (dict(size=7, kernel=3, dilation=0), "dilation must be at least 1"),
        (dict(size=7, kernel=3, padding=-1), "padding must be 0 or more"),
        (dict(size=7, kernel=3, stride=1.5), "stride must be a whole number"),
    ],
)
def test_bad_sizes_are_refused_with_the_rule(kwargs, rule):
    with pytest.raises(CnnlabError, match=rule) as e:
        ar.conv_output_size(**kwargs)
    assert e.value.hint or "whole number" in rule


def test_kernel_larger_than_padded_input_names_both():
    with pytest.raises(CnnlabError, match=r"kernel 5 .* larger than the padded input 4 \(2 \+ padding 1\+1\)"):
        ar.conv_output_size(2, 5, padding=1)


def test_numpy_integers_are_accepted():
    assert ar.conv_output_size(np.int64(7), np.int64(3), np.int32(2)) == 3


def test_strict_explains_and_suggests():
    with pytest.raises(CnnlabError) as e:
        ar.check_stride_fits(7, 3, 3)
    assert "last 1 pixel(s) are never reached" in e.value.message
    assert "strides that fit: 1, 2, 4" in e.value.hint and "pad the input by 2" in e.value.hint
    ar.check_stride_fits(9, 3, 3)  # (9-3)/3 = 2: fits


def test_ceil_mode_drops_window_starting_in_padding():
    # torch: output 3 for n=5, k=2, s=2, p=1 in ceil mode; a 4th window would start in the right padding
    assert ar.conv_output_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert ar.conv_output_size(6, 3, 2, 0, ceil_mode=True) == 3
    assert ar.conv_output_size(6, 3, 2, 0) == 2


def test_costs():
    assert ar.conv_params(3, 96, 11) == 34_944
    assert ar.conv_params(3, 96, (11, 11), bias=False) == 34_848
    assert ar.conv_params(64, 128, (1, 7)) == 64 * 128 * 7 + 128
    assert ar.conv_macs(3, 96, 11, 55) == 105_415_200
    assert ar.conv_macs(32, 32, 3, 10, 20, groups=32) == 32 * 10 * 20 * 9
    with pytest.raises(CnnlabError, match="groups=3 must divide"):
        ar.conv_params(32, 64, 3, groups=3)
    c = ar.conv_cost(8, 8, 3, 4)
    assert c.flops == 2 * c.macs
    s = ar.separable_cost(32, 64, 3, 7)
    assert s.parts == {"depthwise": (32 * 9, 32 * 9 * 49), "pointwise": (32 * 64, 32 * 64 * 49)}
    assert ar.depthwise_cost(8, 3, 5, multiplier=2, bias=False).params == 16 * 9
    assert ar.pointwise_cost(16, 32, 7).params == 16 * 32 + 32
    assert ar.linear_cost(9216, 4096).params == 37_752_832
    assert ar.pool_macs(96, 27, 27, 3) == 629_856
    assert ar.activation_kb(96 * 55 * 55) == 1134.375


def test_receptive_field_chain_jump_start():
    # AlexNet conv1 (11, s4, p0) then pool (3, s2): rf 11 -> 19, jump 4 -> 8, start 5.5 -> 9.5
    steps = ar.receptive_field([(11, 4, 0), (3, 2, 0)])
    assert [(f.rf, f.jump, f.start) for f in steps] == [(11, 4, 5.5), (19, 8, 9.5)]
    # a dilated 3x3 (d=2) sees 5 pixels
    assert ar.receptive_field([(3, 1, 2, 2)])[0].rf == 5


# ------------------------------------------------------------------ matrices


def test_parse_matrix_forms():
    np.testing.assert_array_equal(parse_matrix("0 1 2; 3 4 5"), [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(parse_matrix("0,1;2,3"), [[0, 1], [2, 3]])
    np.testing.assert_allclose(parse_matrix("1/9 1/9; 1/3 -1/2"), [[1 / 9, 1 / 9], [1 / 3, -0.5]])
    assert parse_matrix("0 1; 2 3 | 4 5; 6 7").shape == (2, 2, 2)
    assert parse_matrix("0 1; 2 3 | 4 5; 6 7 || 1 1; 1 1 | 0 0; 0 0").shape == (2, 2, 2, 2)
    assert parse_matrix("1 0; 0 1 || 0 1; 1 0").shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(parse_matrix("[[0, 1], [2, 3]]"), [[0, 1], [2, 3]])
    np.testing.assert_array_equal(parse_matrix("1 2\n3 4\n"), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(parse_matrix("1 2;\n 3 4"), [[1, 2], [3, 4]])
    assert format_matrix(np.array([[1.0, -10.0], [0.5, 2]])) == ["  1 -10", "0.5   2"]


@pytest.mark.parametrize(
    "text, where",
    [
        ("0 1 2; 3 4; 6 7 8", "row 2 has 2 entries but row 1 has 3 (ragged matrix: row 2, column 3)"),
        ("0 1; 2 3 4", "row 2 has 3 entries but row 1 has 2 (ragged matrix: row 2, column 3)"),
        ("0 1 2; 3 x 5", "row 2, column 2: 'x' is not a number"),
        ("0 1; 2 3 | 4 five; 6 7", "channel 2, row 1, column 2: 'five' is not a number"),
        ("0 1; 2 3 | 4 5 6; 6 7 8", "channel 2 has shape 2x3 but channel 1 has 2x2"),
        ("1 2;; 3 4", "row 2 is empty"),
        ("[[0, 1], [2]]", "ragged matrix: row 2 has 1 entries but row 1 has 2 (row 2, column 2)"),
        ("[[0, 1], [2, \"a\"]]", "row [2], column 2: 'a' is not a number"),
        ("1/0 1", "'1/0' is not a number"),
    ],
)
def test_bad_matrices_name_row_and_column(text, where):
    with pytest.raises(CnnlabError) as e:
        parse_matrix(text, label="--input")
    assert where in e.value.message and e.value.message.startswith("--input")


def test_load_matrix_files(tmp_path):
    np.save(tmp_path / "k.npy", np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "k.npy")), [[0, 1], [2, 3]])
    (tmp_path / "x.txt").write_text("# two channels\n0 1\n2 3\n\n4 5\n6 7\n")
    assert load_matrix(str(tmp_path / "x.txt")).shape == (2, 2, 2)
    (tmp_path / "bad.txt").write_text("0 1\n2\n")
    with pytest.raises(CnnlabError, match=r"bad.txt: row 2 has 1 entries"):
        load_matrix(str(tmp_path / "bad.txt"))
    with pytest.raises(CnnlabError, match="file not found: .*missing.npy"):
        load_matrix(str(tmp_path / "missing.npy"))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(CnnlabError, match="junk.npy: not a readable .npy file"):
        load_matrix(str(tmp_path / "junk.npy"))
    np.testing.assert_array_equal(load_matrix("5"), [[5]])
