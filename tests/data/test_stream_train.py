"""`cnnlab train resnet18 --data imagefolder:BIG --data-cache disk` on a folder larger than the memory
limit the test sets: refused in memory, trained from the memory-mapped cache, and the same run as
one from memory when the limit allows it."""

from __future__ import annotations

import json

import torch
from test_stream import noise_tree

from cnnlab.cli import main
from cnnlab.runs import read_model_file

ARGS = [
    "--image-size",
    "32",
    "--steps",
    "3",
    "--batch-size",
    "8",
    "--precision",
    "fp32",
    "--threads",
    "1",
    "--compile",
    "off",
    "--no-progress",
    "--augment",
    "crop=2,flip",
    "--loader-workers",
    "1",
]


def test_train_resnet18_on_a_folder_larger_than_the_memory_limit(tmp_path, monkeypatch, capsys):
    big = noise_tree(tmp_path / "big", per_class=12)  # 36 images x 3 x 32 x 32 = 110,592 bytes decoded
    cache = ["--cache-dir", str(tmp_path / "cache")]
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", "100k")  # 102,400 bytes: the decoded folder does not fit
    assert (
        main(
            [
                "train",
                "resnet18",
                "--data",
                f"imagefolder:{big}",
                "--data-cache",
                "memory",
                *cache,
                *ARGS,
                "--out",
                str(tmp_path / "refused"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "need 108.0 KB in memory, more than the 100.0 KB allowed ($CNNLAB_DATA_MEMORY)" in err
    assert "--data-cache disk" in err

    assert (
        main(
            [
                "train",
                "resnet18",
                "--data",
                f"imagefolder:{big}",
                "--data-cache",
                "disk",
                *cache,
                *ARGS,
                "--out",
                str(tmp_path / "disk"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "--data-cache disk" in out and "decoded once into" in out
    config = json.loads((tmp_path / "disk" / "config.json").read_text())
    assert config["data_options"]["data_cache"] == "disk" and config["resolved"]["steps"] == 3

    # the same run from memory (the limit lifted) ends with the same weights, bit for bit
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", "1G")
    assert (
        main(["train", "resnet18", "--data", f"imagefolder:{big}", *cache, *ARGS, "--out", str(tmp_path / "memory")])
        == 0
    )
    a, _ = read_model_file(tmp_path / "disk" / "model.safetensors")
    b, _ = read_model_file(tmp_path / "memory" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
