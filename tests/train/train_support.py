"""Helpers of the trainer tests (a module name of its own: `conftest` is ambiguous across folders)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cnnlab.data import load_data, write_idx

N_TRAIN, N_VAL = 512, 128


def write_tiny_mnist(folder: Path, n_train: int = N_TRAIN, n_val: int = N_VAL) -> Path:
    d = load_data("mnist-sample")
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, split, n in (("train", d.train, n_train), ("t10k", d.val, n_val)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", split.images[:n, 0].numpy())
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", split.labels[:n].numpy().astype("uint8"))
    return folder


def child_env() -> dict:
    """Environment for cnnlab subprocesses: one thread, the source tree importable."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


PYTHON = sys.executable
