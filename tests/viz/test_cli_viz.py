"""`cnnlab viz ...` end to end on a small run folder: every subcommand writes a real PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab.cli import main
from cnnlab.runs import save_model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    model = cnnlab.create_model("lenet5")
    save_model(
        folder / "model.safetensors",
        model,
        {
            "model": "lenet5",
            "classes": [str(i) for i in range(10)],
            "input_size": [1, 28, 28],
            "mean": [0.1307],
            "std": [0.3081],
            "background": "dark",
            "model_args": {},
        },
    )
    digit = np.zeros((56, 56), np.uint8)
    digit[10:46, 24:32] = 255  # a "1", twice MNIST's size: resized and centred like predict does
    Image.fromarray(digit).save(folder / "one.png")
    Image.fromarray(255 - digit).save(folder / "ink.png")  # dark ink on paper: inverted
    return folder


def _png(path):
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), dtype=np.float32)
    assert a.shape[0] > 200 and a.shape[1] > 200
    assert a.std() > 10  # not a blank page
    return a


@pytest.mark.parametrize(
    "argv, name",
    [
        (["filters"], "filters.png"),
        (["filters", "--layer", "features.c3"], "filters-features.c3.png"),
        (["features", "IMG"], "features-one.png"),
        (["features", "IMG", "--layers", "all", "--max-channels", "4"], "features-one.png"),
        (["cam", "IMG", "--method", "gradcam++", "--class", "1"], "cam-gradcam++-one.png"),
        (["saliency", "IMG", "--method", "integrated", "--steps", "16"], "saliency-integrated-one.png"),
        (["saliency", "IMG", "--method", "guided"], "saliency-guided-one.png"),
        (["occlusion", "IMG", "--patch", "8", "--stride", "8"], "occlusion-one.png"),
        (["receptive-field", "IMG", "--layer", "features.c3"], "receptive-field-features.c3-one.png"),
    ],
)
def test_subcommands_write_pngs(run, argv, name, capsys):
    argv = [a.replace("IMG", str(run / "one.png")) for a in argv]
    assert main(["viz", argv[0], str(run), *argv[1:]]) == 0
    out = capsys.readouterr().out
    assert f"wrote {run / 'viz' / name}" in out
    _png(run / "viz" / name)


def test_integrated_prints_the_completeness_check(run, capsys):
    assert (
        main(
            ["viz", "saliency", str(run), str(run / "one.png"), "--method", "integrated", "--out", str(run / "ig.png")]
        )
        == 0
    )
    assert "completeness" in capsys.readouterr().out


def test_cam_on_several_images_writes_a_folder_and_notes_the_inversion(run, tmp_path, capsys):
    assert main(["viz", "cam", str(run), str(run / "one.png"), str(run / "ink.png"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "inverted" in out
    _png(tmp_path / "cam-gradcam-one.png")
    _png(tmp_path / "cam-gradcam-ink.png")


def test_embedding_of_the_builtin_sample(run, tmp_path, capsys):
    path = tmp_path / "e.png"
    assert main(["viz", "embedding", str(run), "--data", "mnist-sample", "--n", "200", "--out", str(path)]) == 0
    _png(path)


def test_a_registered_name_has_random_weights(tmp_path, capsys):
    path = tmp_path / "f.png"
    assert main(["viz", "filters", "resnet18", "--out", str(path)]) == 0
    assert "random weights" in capsys.readouterr().out
    _png(path)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["viz", "filters", "no-such-run"], "neither a run folder nor a registered model"),
        (["viz", "filters", "RUN", "--layer", "features.s2"], "has no convolution kernel"),
        (["viz", "cam", "RUN", "RUN/missing.png"], "image file not found"),
        (["viz", "cam", "RUN", "RUN/one.png", "--layer", "feature.c3"], "did you mean"),
        (["viz", "cam", "RUN", "RUN/one.png", "--class", "eleven"], "unknown class"),
        (["viz", "receptive-field", "RUN", "RUN/one.png", "--layer", "head.f6"], "whole input"),
    ],
)
def test_errors_name_the_fix(run, argv, message, capsys):
    argv = [a.replace("RUN", str(run)) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
