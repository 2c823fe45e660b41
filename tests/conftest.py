"""Test setup shared by the whole suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from helpers import altstack

# CI runs the property tests derandomized: the same examples every run, so a red build is reproducible
# (run locally without CI=true to let hypothesis explore new examples).
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# One process, never more threads than cores (and one when OMP_NUM_THREADS=1 is set).
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or min(2, torch.get_num_threads()))
torch.set_flush_denormal(True)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(autouse=True)
def large_signal_stack():
    """A 1 MiB alternate signal stack before every test (tests/helpers/altstack.py explains the SIGSEGV
    that AMX signal frames caused). Per test: installed once per session it was not enough, a smaller
    stack was back by the failing test; checking costs one system call."""
    altstack.install()
    assert altstack.current_size() >= altstack.SIZE or sys.platform != "linux"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED
