"""Tiny data for the trainer tests: a slice of the built-in MNIST sample, written as IDX files so
that subprocesses (`python -m cnnlab train --data mnist:DIR`, torchrun) read the same images."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_support import write_tiny_mnist


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    return write_tiny_mnist(tmp_path_factory.mktemp("tiny-mnist"))
