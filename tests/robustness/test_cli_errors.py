"""Every user error is a message on stderr with exit code 2, never a traceback (issue item 7)."""

from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from cnnlab.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNLAB_CACHE", str(tmp_path / "cache"))
    (tmp_path / "notes.pth").write_text("my weights are elsewhere\n")
    (tmp_path / "page.pth").write_text("<html><body>Forbidden</body></html>")
    (tmp_path / "adir.pth").mkdir()
    (tmp_path / "afile").write_text("x")
    save_file({"w": torch.zeros(2)}, tmp_path / "renamed.pth")
    torch.save({"conv1.weight": torch.zeros(6, 1, 5, 5)}, tmp_path / "other.pth")
    return tmp_path


CASES = {
    "set-type": (["train", "lenet5", "--data", "mnist-sample", "--set", "lr=fast"], "lr='fast' must be a number"),
    "set-syntax": (["train", "lenet5", "--set", "lr"], "is not KEY=VALUE"),
    "text-as-pth": (["weights", "notes.pth"], "a text or HTML file"),
    "html-as-pth": (["weights", "page.pth", "--model", "lenet5"], "a text or HTML file"),
    "dir-as-weights": (["weights", "adir.pth"], "is a folder, not a weight file"),
    "save-without-model": (["weights", "renamed.pth", "--save", "x.safetensors"], "--save needs --model"),
    "save-unknown-ext": (["weights", "renamed.pth", "--model", "lenet5", "--save", "x.pt"], "unknown file type"),
    "save-missing-folder": (
        ["weights", "other.pth", "--model", "lenet5", "--save", "no/x.safetensors"],
        "does not exist",
    ),
    "mismatched-weights": (["weights", "other.pth", "--model", "lenet5"], "does not fit lenet5"),
    "out-is-a-file": (["train", "lenet5", "--data", "mnist-sample", "--out", "afile"], "exists and is not a folder"),
    "resume-not-a-run": (["train", "--resume", "adir.pth"], "no config.json"),
    "data-changed-alone": (["train", "lenet5", "--data-changed"], "only applies to --resume"),
    "summary-input": (["summary", "lenet5", "--input", "3x"], "cannot read the input size"),
    "summary-input-4d": (["summary", "lenet5", "--input", "1x1x1x1"], "cannot read the input size"),
    "summary-cuda": (["summary", "lenet5", "--device", "cuda"], "not available here"),
    "summary-repeats": (["summary", "lenet5", "--time", "--repeats", "0"], "repeats >= 1"),
    "summary-out-missing": (["summary", "lenet5", "--out", "no/such/dir/s.txt"], "does not exist"),
    "filter-out-ext": (["filter", "box", "skimage:camera", "-o", "out.xyz"], "unknown file type"),
    "filter-dir-image": (["filter", "box", "adir.pth"], "is a folder"),
    "filter-max-pixels": (["--max-pixels", "0", "filter", "box", "skimage:camera"], "must be positive"),
    "compare-plot-ext": (["compare", "lenet5", "--plot", "chart.exe"], "unknown file type"),
    "data-preview-missing": (["data", "mnist-sample", "--preview", "no/grid.png"], "does not exist"),
    "nan-kernel": (["explain", "conv", "--input", "0", "--kernel", "nan"], "NaN or infinite"),
    "inf-input": (["explain", "pool", "--input", "inf", "--window", "1"], "NaN or infinite"),
    "name-too-long": (["explain", "conv", "--input", "0", "--kernel", "x" * 300], "File name too long"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_error_is_a_message_with_exit_2(files, capsys, case):
    args, expected = CASES[case]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and expected in err, err
    assert "Traceback" not in err
    assert not (files / "no").exists()


def test_argparse_usage_errors_exit_2(files, capsys):
    with pytest.raises(SystemExit) as e:
        main(["summary", "lenet5", "--repeats", "many"])
    assert e.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_filter_output_in_a_missing_folder_is_created(files, capsys):
    assert main(["filter", "box", "skimage:camera", "-o", "made/out.png", "--max-size", "64"]) == 0
    assert (files / "made" / "out.png").is_file()


def test_read_only_out_is_a_clear_error(files, capsys):
    if os.geteuid() == 0:  # root writes anywhere: use a path under a file instead
        code = main(["train", "lenet5", "--data", "mnist-sample", "--out", "afile/run"])
    else:
        (files / "ro").mkdir(mode=0o500)
        code = main(["train", "lenet5", "--data", "mnist-sample", "--out", "ro/run"])
    assert code == 2 and "error: --out" in capsys.readouterr().err
