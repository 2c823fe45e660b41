"""The MNIST IDX reader, on files the test writes itself."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from cnnlab.data import load_data, read_idx, write_idx
from cnnlab.errors import CnnlabError


def write_mnist_folder(root, n_train=30, n_test=10, raw=False):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = "" if raw else ".gz"
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


def test_header_bytes_are_the_idx_layout(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "a.idx", a)
    data = (tmp_path / "a.idx").read_bytes()
    assert data[:4] == bytes([0, 0, 0x08, 2])
    assert struct.unpack(">2I", data[4:12]) == (2, 3)
    assert data[12:] == bytes(range(6))


@pytest.mark.parametrize("gz", [False, True])
def test_roundtrip_gzip_and_raw(tmp_path, gz):
    a = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = tmp_path / ("x.gz" if gz else "x")
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    b = read_idx(path)
    assert b.dtype == np.uint8 and b.shape == (5, 7, 3)
    np.testing.assert_array_equal(a, b)


def test_corrupt_header_is_explained(tmp_path):
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(CnnlabError, match="not an IDX file") as e:
        read_idx(bad)
    assert str(bad) in str(e.value)


def test_truncated_data_is_explained(tmp_path):
    path = tmp_path / "t.gz"
    payload = bytes([0, 0, 8, 3]) + struct.pack(">3I", 10, 28, 28) + b"\x00" * 100
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(CnnlabError, match=r"shape \(10, 28, 28\) \(7,840 bytes of data\) but the file holds 100"):
        read_idx(path)


@pytest.mark.parametrize("raw", [False, True])
def test_mnist_folder_reads_both_splits(tmp_path, raw):
    write_mnist_folder(tmp_path, raw=raw)
    d = load_data(f"mnist:{tmp_path}")
    assert d.train.images.shape == (30, 1, 28, 28) and d.val.images.shape == (10, 1, 28, 28)
    assert d.classes == [str(i) for i in range(10)]
    assert d.train.class_counts() == [3] * 10


def test_missing_folder_and_files_name_the_path_and_format(tmp_path):
    with pytest.raises(CnnlabError, match="does not exist"):
        load_data(f"mnist:{tmp_path / 'nope'}")
    with pytest.raises(CnnlabError, match="train-images-idx3-ubyte") as e:
        load_data(f"mnist:{tmp_path}")
    assert "official MNIST file names" in e.value.hint
    with pytest.raises(CnnlabError, match="needs a path"):
        load_data("mnist")
