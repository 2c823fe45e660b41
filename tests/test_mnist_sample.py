"""The built-in MNIST sample: real digits, disjoint, class-balanced, reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import load_data, read_idx
from cnnlab.data.sources import builtin_path
from cnnlab.errors import CnnlabError

# ../shared lies beside the clone on every developer machine and in CI
SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def test_sizes_and_balance():
    d = load_data("mnist-sample", val_split=0)
    assert d.train.images.shape == (10_000, 1, 28, 28)
    assert d.test.images.shape == (2_000, 1, 28, 28)
    assert d.train.class_counts() == [1000] * 10
    assert d.test.class_counts() == [200] * 10


def test_normalisation_statistics_come_from_the_training_split():
    d = load_data("mnist-sample")
    x = d.train.images.double() / 255
    assert d.mean[0] == pytest.approx(float(x.mean()), abs=1e-9)
    assert d.std[0] == pytest.approx(float(x.std(unbiased=False)), abs=1e-9)
    assert 0.12 < d.mean[0] < 0.14  # MNIST's well-known mean is 0.1307


def test_takes_no_path():
    with pytest.raises(CnnlabError, match="built in"):
        load_data("mnist-sample:/tmp")


def test_digits_are_real_mnist_train_and_test_digits_at_the_recorded_indices():
    root = builtin_path("mnist-sample")
    for split in ("train", "t10k"):
        idx = np.loadtxt(root / f"{split}-source-indices.txt", dtype=np.int64)
        full_x = read_idx(SHARED_MNIST / f"{split}-images-idx3-ubyte.gz")
        full_y = read_idx(SHARED_MNIST / f"{split}-labels-idx1-ubyte.gz")
        np.testing.assert_array_equal(read_idx(root / f"{split}-images-idx3-ubyte.gz"), full_x[idx])
        np.testing.assert_array_equal(read_idx(root / f"{split}-labels-idx1-ubyte.gz"), full_y[idx])
        assert len(set(idx.tolist())) == len(idx)  # no digit twice


def test_cut_is_reproducible(tmp_path):
    import runpy
    import sys

    script = Path(__file__).resolve().parents[1] / "tools" / "make_mnist_sample.py"
    argv = sys.argv
    sys.argv = [str(script), str(SHARED_MNIST), str(tmp_path)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    root = builtin_path("mnist-sample")
    for name in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), read_idx(root / name))
