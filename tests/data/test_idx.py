"""IDX reader (MNIST format) on files the test writes: gzip and raw, corrupt and truncated headers."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnlab.data import load_data, read_idx, write_idx
from cnnlab.errors import CnnlabError


def write_mnist_folder(root, n_train=30, n_test=10, compress=True, rng=None):
    rng = rng or np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_roundtrip_raw_and_gzip(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    header = gzip.decompress(raw)[:16] if name.endswith(".gz") else raw[:16]
    # 00 00, type 08 (uint8), 3 dimensions, then 2, 3, 4 as big-endian uint32
    assert header == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])
    np.testing.assert_array_equal(read_idx(tmp_path / name), arr)


def test_corrupt_header_is_explained(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(CnnlabError, match="not an IDX file .*12 34 08 03"):
        read_idx(p)


def test_truncated_data_is_explained(tmp_path):
    p = tmp_path / "short"
    write_idx(p, np.zeros((5, 4, 4), np.uint8))
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(CnnlabError, match=r"shape \(5, 4, 4\) \(80 bytes of data\) but the file holds 73"):
        read_idx(p)


def test_truncated_gzip_is_explained(tmp_path):
    p = tmp_path / "x.gz"
    write_idx(p, np.zeros((50, 4, 4), np.uint8) + 7)
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(CnnlabError, match="cannot read|truncated"):
        read_idx(p)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_folder_gzip_and_raw(tmp_path, compress):
    write_mnist_folder(tmp_path, compress=compress)
    data = load_data(f"mnist:{tmp_path}")
    assert (len(data.train), len(data.val), len(data.test)) == (20, 10, 10)  # validation: 10% per class, >= 1
    assert data.train.image_shape == (1, 28, 28)
    assert data.train.class_counts() == [2] * 10 and data.test.class_counts() == [1] * 10
    assert "per class" in data.describe()


def test_missing_file_names_the_layout(tmp_path):
    write_mnist_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(CnnlabError, match="t10k-labels-idx1-ubyte") as e:
        load_data(f"fashion-mnist:{tmp_path}")
    assert "official MNIST file names" in e.value.hint
