"""Weight files and their metadata are untrusted input: every bad file is a clear error, nothing
is built from tampered metadata, strings are printed escaped."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from cnnlab.cli import main
from cnnlab.errors import CnnlabError, printable
from cnnlab.models import create_model
from cnnlab.models.weights import load_weights, read_weight_file
from cnnlab.runs import load_run, save_model, validate_meta

from helpers.hostile import random_bytes, run_capped, safetensors_bytes


def lenet_file(path, **meta):
    model = create_model("lenet5", num_classes=3, in_chans=1)
    save_model(
        path,
        model,
        {
            "model": "lenet5",
            "model_args": {"in_chans": 1},
            "classes": ["a", "b", "c"],
            "input_size": [1, 28, 28],
            "mean": [0.1],
            "std": [0.3],
            **meta,
        },
    )
    return path


def retag(src, dst, **changes):
    """Copy a safetensors file with some metadata fields replaced (JSON-encoded as cnnlab writes them)."""
    raw = src.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    for k, v in changes.items():
        header["__metadata__"][k] = v if isinstance(v, str) and k == "raw" else json.dumps(v)
    dst.write_bytes(safetensors_bytes(header, raw[8 + n :]))
    return dst


# -- files that are not weights --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("notes.pth", b"these are my weights\n", "a text or HTML file"),
        ("page.pth", b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "a text or HTML file"),
        ("empty.pth", b"", "not a readable PyTorch weight file"),
        ("noise.pth", random_bytes(4096), "not a readable PyTorch weight file"),
        ("zip.pth", b"PK\x03\x04" + random_bytes(200, 1), "not a readable PyTorch weight file"),
        ("fake.safetensors", b"not a header at all", "not a safetensors file"),
    ],
)
def test_files_that_are_not_weights(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CnnlabError, match=match):
        read_weight_file(tmp_path / name)


def test_a_folder_or_fifo_given_as_weights(tmp_path):
    import os

    (tmp_path / "dir.pth").mkdir()
    with pytest.raises(CnnlabError, match="is a folder, not a weight file"):
        read_weight_file(tmp_path / "dir.pth")
    os.mkfifo(tmp_path / "pipe.safetensors")
    with pytest.raises(CnnlabError, match="FIFO"):
        read_weight_file(tmp_path / "pipe.safetensors")


def test_truncated_pth_is_a_clear_error(tmp_path):
    torch.save({"w": torch.zeros(1000)}, tmp_path / "w.pth")
    data = (tmp_path / "w.pth").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "t.pth").write_bytes(data[:cut])
        with pytest.raises(CnnlabError, match="t.pth"):
            read_weight_file(tmp_path / "t.pth")


def test_safetensors_renamed_pth_is_read_as_safetensors(tmp_path):
    save_file({"w": torch.arange(4.0)}, tmp_path / "w.pth")
    sd, _, _ = read_weight_file(tmp_path / "w.pth")
    assert torch.equal(sd["w"], torch.arange(4.0))


@pytest.mark.parametrize(
    "header, declared, match",
    [
        ({"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4]}}, None, "not a readable safetensors"),
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 40]}}, None, "not a readable safetensors"),
        ({"w": {"dtype": "XX", "shape": [1], "data_offsets": [0, 4]}}, None, "not a readable safetensors"),
        (b"{" + b" " * 100, None, "not a readable safetensors"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, 1 << 50, "h.safetensors"),
    ],
)
def test_hostile_safetensors_headers(tmp_path, header, declared, match):
    path = tmp_path / "h.safetensors"
    path.write_bytes(safetensors_bytes(header, b"\0" * 4, declared))
    with pytest.raises(CnnlabError, match=match):
        read_weight_file(path)


def test_nan_and_integer_weights_are_refused(tmp_path):
    model = create_model("lenet5", num_classes=10)
    sd = model.state_dict()
    bad = dict(sd)
    bad[next(iter(sd))] = torch.full_like(sd[next(iter(sd))], float("nan"))
    torch.save(bad, tmp_path / "nan.pth")
    with pytest.raises(CnnlabError, match="NaN or infinite"):
        load_weights(model, tmp_path / "nan.pth", source="cnnlab")
    ints = {k: v.to(torch.int64) for k, v in sd.items()}
    torch.save(ints, tmp_path / "int.pth")
    with pytest.raises(CnnlabError, match="integer tensor"):
        load_weights(model, tmp_path / "int.pth", source="cnnlab")
    assert torch.equal(model.state_dict()[next(iter(sd))], sd[next(iter(sd))])  # untouched


# -- metadata ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("model", "no_such_net", "not a registered model"),
        ("model", 42, "not a model name"),
        ("model_args", ["x"], "not a table"),
        ("model_args", {"num_classes": 5}, "sets num_classes"),
        ("model_args", {"in_chans": {"nested": 1}}, "not numbers"),
        ("classes", [], "list of 1 to"),
        ("classes", "abc", "list of 1 to"),
        ("input_size", [1, 100000, 100000], "out of bounds"),
        ("input_size", [1, 64, 64], "does not fit lenet5"),
        ("input_size", [3, 28, 28], "1 values for 3 input channels"),
        ("input_size", [1, 28], "three positive integers"),
        ("input_size", [1, -28, 28], "three positive integers"),
        ("mean", [float("nan")], "finite numbers"),
        ("std", [0.0], "<= 0"),
        ("std", [0.3, 0.3, 0.3], "3 values for 1 input channels"),
        ("background", "\x1b[31mred", "neither"),
    ],
)
def test_tampered_metadata_is_refused_naming_file_and_field(tmp_path, field, value, match):
    src = lenet_file(tmp_path / "good.safetensors")
    bad = retag(src, tmp_path / "bad.safetensors", **{field: value})
    with pytest.raises(CnnlabError, match=match) as e:
        load_run(bad)
    assert str(bad) in e.value.message and "metadata field '" in e.value.message


def test_model_args_that_would_allocate_terabytes_are_refused_on_the_meta_device(tmp_path):
    """airbench width=1000 holds 256,000-channel convolutions: refused before any real allocation."""
    model = create_model("airbench", num_classes=2)
    save_model(
        tmp_path / "a.safetensors", model, {"model": "airbench", "classes": ["x", "y"], "input_size": [3, 32, 32]}
    )
    retag(tmp_path / "a.safetensors", tmp_path / "wide.safetensors", model_args={"width": 1000})
    r = run_capped(
        "from cnnlab.runs import load_run\nfrom cnnlab.errors import CnnlabError\n"
        "try:\n    load_run('wide.safetensors')\nexcept CnnlabError as e:\n    print('refused', e)\n",
        tmp_path,
        cap=3 << 30,
    )
    assert r.returncode == 0 and "refused" in r.stdout and "do not fit" in r.stdout, r.stderr[-800:]


def test_class_names_with_control_characters_are_escaped(tmp_path, capsys):
    evil = ["cat\nresult: dog 100.00%", "\x1b[2J\x1b[Hwiped", "ok"]
    src = lenet_file(tmp_path / "m.safetensors")
    bad = retag(src, tmp_path / "evil.safetensors", classes=evil)
    run = load_run(bad)
    assert run.classes == [printable(c) for c in evil]
    assert all("\n" not in c and "\x1b" not in c for c in run.classes)
    assert run.classes[0] == "cat\\nresult: dog 100.00%"


def test_cli_weights_prints_file_strings_escaped(tmp_path, capsys):
    torch.save({"conv\nfake line": torch.zeros(2, 3, 3, 3), "\x1b[2Jb": torch.zeros(2)}, tmp_path / "w.pth")
    assert main(["weights", str(tmp_path / "w.pth")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "fake line" in out and "conv\\nfake line" in out


def test_validate_meta_accepts_what_cnnlab_writes(tmp_path):
    src = lenet_file(tmp_path / "m.safetensors", background="dark")
    run = load_run(src)
    assert run.classes == ["a", "b", "c"] and run.meta["input_size"] == [1, 28, 28]
    assert validate_meta({"model": "lenet5", "classes": ["a"]}, "x")["model_args"] == {}


def test_a_greyscale_run_of_a_colour_default_network_reloads(tmp_path):
    """The trainer builds the first layer for the data's channels (in_chans=1 for MNIST) without writing
    in_chans into model_args; loading rebuilds it from input_size, and the predictions are the same."""
    model = create_model("resnet20", num_classes=10, in_chans=1).eval()
    save_model(
        tmp_path / "w.safetensors",
        model,
        {
            "model": "resnet20",
            "model_args": {},
            "classes": [str(i) for i in range(10)],
            "input_size": [1, 28, 28],
            "mean": [0.1],
            "std": [0.3],
        },
    )
    run = load_run(tmp_path / "w.safetensors")
    assert run.model.conv1.weight.shape == (16, 1, 3, 3)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(run.model(x), model(x))
