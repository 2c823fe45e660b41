"""A tiny three-class image folder written by the tests, and a LeNet-5 trained on it for two epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.eval_support import DATA_OPTIONS, write_folder


@pytest.fixture(scope="session")
def folder(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("bars")
    return root, write_folder(root, {"train": 24, "test": 10})


@pytest.fixture(scope="session")
def trained(folder, tmp_path_factory):
    from cnnlab.train import train

    root, _ = folder
    return train(
        model="lenet5",
        data=f"imagefolder:{root}",
        data_options=DATA_OPTIONS,
        epochs=2,
        batch_size=16,
        lr=0.02,
        precision="fp32",
        threads=1,
        progress=False,
        out=str(tmp_path_factory.mktemp("runs") / "bars"),
    )
