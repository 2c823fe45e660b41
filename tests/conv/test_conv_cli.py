"""``cnnlab explain`` and ``cnnlab filter`` end to end, including the errors users see."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnnlab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_conv_prints_like_the_slides(capsys):
    code, out, _ = run(capsys, "explain", "conv", "--input", "0 1 2; 3 4 5; 6 7 8", "--kernel", "0 1; 2 3")
    assert code == 0
    assert "height: (3 - 2 + 2x0)/1 + 1 = 2" in out
    for line in (
        "out[0, 0] = 0x0 + 1x1 + 3x2 + 4x3 = 19",
        "out[0, 1] = 1x0 + 2x1 + 4x2 + 5x3 = 25",
        "out[1, 0] = 3x0 + 4x1 + 6x2 + 7x3 = 37",
        "out[1, 1] = 4x0 + 5x1 + 7x2 + 8x3 = 43",
    ):
        assert line in out


def test_explain_conv_padding_stride_channels_json(capsys, tmp_path):
    code, out, _ = run(capsys, "explain", "conv", "-i", "0 1 2; 3 4 5; 6 7 8", "-k", "0 1; 2 3", "-p", "1", "-s", "3,2")
    assert code == 0 and "out[0, 1] = 0x0 + 0x1 + 1x2 + 2x3 = 8" in out and "2.5 -> floor -> 2" in out
    code, out, _ = run(
        capsys, "explain", "conv", "-i", "0 1 2; 3 4 5; 6 7 8 | 1 2 3; 4 5 6; 7 8 9", "-k", "0 1; 2 3 | 1 2; 3 4"
    )
    assert "out[0, 0] = (0x0 + 1x1 + 3x2 + 4x3) + (1x1 + 2x2 + 4x3 + 5x4) = 19 + 37 = 56" in out
    np.save(tmp_path / "x.npy", np.arange(9.0).reshape(3, 3))
    (tmp_path / "k.txt").write_text("0 1\n2 3\n")
    code, out, _ = run(
        capsys, "explain", "conv", "-i", str(tmp_path / "x.npy"), "-k", str(tmp_path / "k.txt"), "--json"
    )
    d = json.loads(out)
    assert d["output"] == [[[19.0, 25.0], [37.0, 43.0]]]
    assert d["steps"][3]["equation"] == "4x0 + 5x1 + 7x2 + 8x3 = 43"
    code, out, _ = run(capsys, "explain", "conv", "-i", "1 2 3 4 5", "-k", "1 1", "-d", "1,3", "--bias", "10")
    assert "out[0, 0] = 1x1 + 4x1 + 10 = 15" in out
    code, out, _ = run(capsys, "explain", "conv", "-i", "1 2 3; 4 5 6; 7 8 9", "-k", "1 0; 0 1 || 0 1; 1 0")
    assert (
        code == 0
        and "out[0, 0, 0] = 1x1 + 2x0 + 4x0 + 5x1 = 6" in out
        and "out[1, 0, 0] = 1x0 + 2x1 + 4x1 + 5x0 = 6" in out
    )
    assert "output channel 1" in out


def test_explain_pool_and_shape(capsys):
    code, out, _ = run(capsys, "explain", "pool", "-i", "1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4", "--window", "2")
    assert code == 0 and "out[0, 0] = max(1, 1, 5, 6) = 6" in out and "6 8\n3 4" in out
    code, out, _ = run(capsys, "explain", "pool", "-i", "0 1 2; 3 4 5; 6 7 8", "-k", "2", "-s", "1", "--mode", "avg")
    assert "out[0, 0] = (0 + 1 + 3 + 4) / 4 = 2" in out
    code, out, _ = run(
        capsys, "explain", "shape", "conv 11 s4 96; pool 3 s2; conv 5 p2 256", "--input-shape", "3x227x227"
    )
    assert code == 0
    assert "conv1     3x227x227  11  4  0  96x55x55" in out
    assert "(227 - 11 + 2x0)/4 + 1 = 55" in out
    code, out, _ = run(capsys, "explain", "shape", "conv 3 p1 8; fc 10", "--shape", "1x4x4", "--json")
    d = json.loads(out)
    assert d["total_params"] == 8 * 9 + 8 + 8 * 16 * 10 + 10 and d["total_flops"] == 2 * d["total_macs"]


def test_explain_without_what_shows_help(capsys):
    code, out, _ = run(capsys, "explain")
    assert code == 2 and "conv" in out and "shape" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["explain", "conv", "-i", "0 1 2; 3 4; 6 7 8", "-k", "1"],
            "--input: row 2 has 2 entries but row 1 has 3 (ragged matrix: row 2, column 3)",
        ),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1 a"], "--kernel: row 1, column 2: 'a' is not a number"),
        (
            ["explain", "conv", "-i", "0 1 2; 3 4 5", "-k", "1 1 1; 1 1 1; 1 1 1"],
            "the 3x3 kernel is larger than the input 2x3",
        ),
        (
            [
                "explain",
                "conv",
                "-i",
                "0 1 2; 3 4 5",
                "-k",
                "1 1 1 1 1; 1 1 1 1 1; 1 1 1 1 1; 1 1 1 1 1; 1 1 1 1 1",
                "-p",
                "1",
            ],
            "the 5x5 kernel is larger than the padded input 4x5 (2x3 + padding)",
        ),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1", "--stride", "0"], "stride must be at least 1"),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1", "--stride", "-1"], "stride must be at least 1"),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1", "--dilation", "0"], "dilation must be at least 1"),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1", "--padding", "-1"], "padding must be 0 or more"),
        (["explain", "conv", "-i", "0 1; 2 3", "-k", "1", "--stride", "two"], "--stride 'two' is not a whole number"),
        (
            [
                "explain",
                "conv",
                "-i",
                "1 2 3 4 5 6 7; " * 6 + "1 2 3 4 5 6 7",
                "-k",
                "1 1 1; 1 1 1; 1 1 1",
                "-s",
                "3",
                "--strict",
            ],
            "stride 3 does not fit: (input 7 - kernel 3) / stride 3 = 4/3",
        ),
        (["explain", "pool", "-i", "0 1; 2 3", "--window", "0"], "kernel size must be at least 1"),
        (["explain", "pool", "-i", "0 1; 2 3", "--window", "3"], "the 3x3 pooling window is larger than the input 2x2"),
        (["explain", "shape", "conv 3 8", "--input-shape", "0x5x5"], "input channels must be at least 1"),
        (["explain", "shape", "conv 3 s0 8", "--input-shape", "1x5x5"], "stride must be at least 1"),
        (["explain", "shape", "conv 7 8", "--input-shape", "1x5x5"], "larger than the padded input 5"),
        (["explain", "conv", "-i", "/nonexistent/x.npy", "-k", "1"], "--input: file not found: /nonexistent/x.npy"),
    ],
)
def test_bad_input_errors(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_help_of_every_subcommand(capsys):
    for argv in (
        ["explain", "conv", "--help"],
        ["explain", "pool", "--help"],
        ["explain", "shape", "--help"],
        ["filter", "--help"],
    ):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage:" in out
    with pytest.raises(SystemExit):
        main(["explain", "shape", "--help"])
    assert "conv K [sS]" in capsys.readouterr().out


def test_filter_list(capsys):
    code, out, _ = run(capsys, "filter", "--list")
    assert code == 0
    for name in (
        "identity",
        "box",
        "gaussian",
        "sharpen",
        "sharpen-mean",
        "edge",
        "sobel-x",
        "sobel-y",
        "shift-left",
        "shift-right",
        "shift-up",
        "shift-down",
        "custom",
    ):
        assert name in out
    assert run(capsys, "filter", "list")[1] == out


def test_filter_writes_picture_and_compare(capsys, tmp_path):
    out_png = tmp_path / "sharp.png"
    code, out, _ = run(
        capsys, "filter", "sharpen", "skimage:camera", "-o", str(out_png), "--compare", "--max-size", "96", "--check"
    )
    assert code == 0
    im = Image.open(out_png)
    assert im.size == (96, 96) and im.mode == "L"
    cmp = Image.open(tmp_path / "sharp-compare.png")
    assert cmp.size == (96 + 8 + 96, 96 + 18)
    assert "largest difference 0" in out
    code, out, _ = run(
        capsys,
        "filter",
        "box",
        "skimage:chelsea",
        "--size",
        "5",
        "--border",
        "valid",
        "-o",
        str(tmp_path / "b.png"),
        "--max-size",
        "50",
        "--compare",
        str(tmp_path / "c.png"),
    )
    assert Image.open(tmp_path / "b.png").size == (46, 29) and Image.open(tmp_path / "b.png").mode == "RGB"
    assert (tmp_path / "c.png").is_file()
    code, out, _ = run(
        capsys,
        "filter",
        "custom",
        "skimage:coffee",
        "--kernel",
        "1 0 -1; 2 0 -2; 1 0 -1",
        "--grey",
        "--scale",
        "abs",
        "-o",
        str(tmp_path / "k.png"),
        "--max-size",
        "40",
    )
    assert code == 0 and Image.open(tmp_path / "k.png").mode == "L"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["filter", "sharpn", "skimage:camera"], "unknown filter 'sharpn'"),
        (["filter", "sharpen", "skimage:camra"], "unknown scikit-image photo 'camra'"),
        (["filter", "sharpen"], "needs a filter NAME and an IMAGE"),
        (["filter", "custom", "skimage:camera"], "filter 'custom' needs --kernel"),
        (["filter", "sharpen", "skimage:camera", "--kernel", "1"], "--kernel replaces the named filter"),
        (["filter", "custom", "skimage:camera", "--kernel", "1 2; 3"], "--kernel: row 2 has 1 entries but row 1 has 2"),
        (["filter", "box", "skimage:camera", "--size", "0"], "filter size must be at least 1"),
        (["filter", "sharpen", "skimage:camera", "--size", "5"], "has a fixed 3x3 kernel"),
    ],
)
def test_filter_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_filter_unreadable_image_names_the_file(capsys, tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not a jpeg")
    code, _, err = run(capsys, "filter", "sharpen", str(bad), "-o", str(tmp_path / "o.png"))
    assert code == 2 and f"{bad}: not a readable image" in err
    code, _, err = run(capsys, "filter", "sharpen", str(tmp_path / "missing.png"))
    assert code == 2 and "missing.png" in err
