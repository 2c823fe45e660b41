"""`cnnlab train resnet18 --data imagefolder:BIG --data-cache disk` on a folder larger than the memory
limit the test sets: refused in memory, trained from the memory-mapped cache, and the same run as one
from memory when the limit allows it."""

from __future__ import annotations

import json

import pytest
import torch
from test_stream import noise_tree

from cnnlab.cli import main
from cnnlab.runs import read_model_file

ARGS = (
    "--image-size 32 --steps 3 --batch-size 8 --precision fp32 --threads 1 --compile off --no-progress "
    "--augment crop=2,flip --loader-workers 1"
).split()


@pytest.fixture
def big(tmp_path, monkeypatch):
    folder = noise_tree(tmp_path / "big", per_class=12)  # 36 images x 3 x 32 x 32 = 110,592 bytes decoded
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", "100k")  # 102,400 bytes: the decoded folder does not fit
    return folder


def train(big, out, *extra) -> int:
    cache = ["--cache-dir", str(big.parent / "cache")]
    return main(["train", "resnet18", "--data", f"imagefolder:{big}", *cache, *ARGS, *extra, "--out", str(out)])


def test_train_resnet18_on_a_folder_larger_than_the_memory_limit(big, tmp_path, capsys):
    assert train(big, tmp_path / "refused", "--data-cache", "memory") == 2
    err = capsys.readouterr().err
    assert "need 108.0 KB in memory, more than the 100.0 KB allowed ($CNNLAB_DATA_MEMORY)" in err
    assert "--data-cache disk" in err

    assert train(big, tmp_path / "disk", "--data-cache", "disk") == 0
    out = capsys.readouterr().out
    assert "--data-cache disk" in out and "decoded once into" in out
    config = json.loads((tmp_path / "disk" / "config.json").read_text())
    assert config["data_options"]["data_cache"] == "disk" and config["resolved"]["steps"] == 3
    assert (tmp_path / "disk" / "model.safetensors").is_file()


def test_the_disk_run_equals_the_run_from_memory(big, tmp_path, monkeypatch):
    assert train(big, tmp_path / "disk") == 0  # auto: past the limit, disk
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", "1G")
    assert train(big, tmp_path / "memory") == 0  # auto: within the limit, memory
    configs = [json.loads((tmp_path / d / "config.json").read_text()) for d in ("disk", "memory")]
    assert configs[0]["resolved"]["data_fingerprint"] == configs[1]["resolved"]["data_fingerprint"]
    a, _ = read_model_file(tmp_path / "disk" / "model.safetensors")
    b, _ = read_model_file(tmp_path / "memory" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
