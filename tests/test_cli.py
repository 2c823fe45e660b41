"""The command line: every subcommand's help, the main job's output, user errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnlab.cli import COMMANDS, build_parser, main


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab", *args], capture_output=True, text=True, timeout=300)


def test_top_level_help_lists_every_command():
    r = cli("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_complete_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: cnnlab {command}")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"cnnlab {command} {action.option_strings[0]} has no help text"


def test_train_then_predict_from_the_command_line(tmp_path):
    from PIL import Image

    from cnnlab.data import load_data

    out = tmp_path / "run"
    r = cli("train", "lenet5", "--data", "mnist-sample", "--epochs", "1", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "val accuracy:" in r.stdout and f"run folder: {out}" in r.stdout and "held-out" not in r.stdout
    d = load_data("mnist-sample")
    img = tmp_path / "seven.png"
    i = int((d.test.labels == 7).nonzero()[0])  # a test digit: never seen in training
    Image.fromarray(d.test.images[i, 0].numpy()).save(img)
    r = cli("predict", str(out), str(img), "--json", "-k", "2")
    assert r.returncode == 0, r.stderr
    (pred,) = json.loads(r.stdout)
    assert pred["top"][0]["class"] == "7" and len(pred["top"]) == 2
    # the run folder is protected
    r = cli("train", "lenet5", "--epochs", "1", "--out", str(out), "--no-progress")
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "lenet", "--epochs", "1"], "did you mean lenet5"),
        (["train", "lenet5", "--data", "mnst"], "did you mean mnist"),
        (["train", "lenet5", "--data", "mnist:/no/such/folder"], "/no/such/folder does not exist"),
        (["train", "lenet5", "--epochs", "0"], "epochs=0"),
        (["train", "lenet5", "-m", "activation"], "is not KEY=VALUE"),
        (["predict", "/no/such/run", "x.png"], "run folder /no/such/run does not exist"),
        (["models", "lenet"], "did you mean lenet5"),
    ],
)
def test_user_errors_are_one_clear_line_without_traceback(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ")


def test_models_lists_lenet_with_its_parameter_count(capsys):
    assert main(["models", "lenet*"]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "61,706" in out
    assert main(["models", "--details", "lenet5", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["params"] == card["params_built"] == 61_706


def test_python_dash_m_and_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("cnnlab ")
