"""CIFAR pickles and IDX files: memory bombs refused before allocating, only numeric arrays, clear
errors for wrong label types and encodings, float IDX data, negative labels, split size mismatch."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from cnnlab.data import load_data
from cnnlab.data.cifar import read_batch, read_bytes
from cnnlab.data.idx import read_idx, write_idx
from cnnlab.data.safe_pickle import load_data_pickle
from cnnlab.errors import CnnlabError

from helpers.hostile import run_capped


def reconstruct_pickle(shape: tuple, typecode: bytes = b"B") -> bytes:
    """A tiny pickle that calls numpy's _reconstruct(ndarray, SHAPE, typecode) with no data."""
    dims = b"".join(b"J" + struct.pack("<i", d) if d < 2**31 else b"\x8a\x05" + d.to_bytes(5, "little") for d in shape)
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n("
        + dims
        + b"tC"
        + bytes([len(typecode)])
        + typecode
        + b"\x87R."
    )


def batch_pickle(data, labels, key=b"labels") -> bytes:
    return pickle.dumps({b"data": data, key: labels, b"batch_label": b"x"}, protocol=2)


def test_a_191_byte_batch_does_not_become_500000_images(tmp_path):
    bomb = (
        b"\x80\x02}(C\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x20\xa1\x07\x00"
        b"M\x00\x0c\x86C\x01B\x87RC\x06labels]u."
    )
    assert len(bomb) < 191
    (tmp_path / "data_batch_1").write_bytes(bomb)
    with pytest.raises(CnnlabError, match="refused an array declared with shape"):
        read_batch(tmp_path / "data_batch_1", b"labels", 10)


def test_a_tiny_pickle_cannot_allocate_a_gibibyte(tmp_path):
    for shape in [(1 << 30,), (1 << 15, 1 << 15)]:
        with pytest.raises(CnnlabError, match="refused"):
            load_data_pickle(reconstruct_pickle(shape), tmp_path / "x")
    call = b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00@\x85R."  # numpy.ndarray((2**30,))
    with pytest.raises(CnnlabError, match="refused a call of numpy.ndarray"):
        load_data_pickle(call, tmp_path / "x")


def test_declared_shape_must_match_the_data_bytes(tmp_path):
    a = np.zeros((2, 3072), np.uint8)
    raw = pickle.dumps(a, protocol=2)
    assert raw.count(b"\x00" * 6144) == 1
    lying = raw.replace(b"M\x00\x0c", b"J\x00\x00\x01\x00", 1)  # 3072 -> 65536 columns
    assert lying != raw
    with pytest.raises(CnnlabError):
        load_data_pickle(lying, tmp_path / "x")


@pytest.mark.parametrize(
    "arr", [np.array(["a", "b"]), np.array([1, None], dtype=object), np.zeros(2, dtype=[("a", "u1")])]
)
def test_only_numeric_arrays(tmp_path, arr):
    with pytest.raises(CnnlabError, match="refused"):
        load_data_pickle(pickle.dumps({"data": arr}, protocol=2), tmp_path / "x")


def test_nested_containers_are_bounded(tmp_path):
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(CnnlabError):
        load_data_pickle(pickle.dumps(deep), tmp_path / "x")


@pytest.mark.parametrize(
    "labels, match",
    [
        (["cat", "dog"], "list of integer labels, got list of str"),
        ([1.5, 2.0], "list of integer labels, got list of float"),
        (b"\x01\x02", "got bytes"),
        (np.array([0.5, 1.5]), "got float64"),
        ([True, False], "list of bool"),
    ],
)
def test_cifar_labels_of_the_wrong_type(tmp_path, labels, match):
    (tmp_path / "b").write_bytes(batch_pickle(np.zeros((2, 3072), np.uint8), labels))
    with pytest.raises(CnnlabError, match=match):
        read_batch(tmp_path / "b", b"labels", 10)


def test_cifar_class_names_in_a_wrong_encoding(tmp_path):
    from cnnlab.data.cifar import LAYOUTS, _class_names

    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"\xff\xfe"] * 10}))
    with pytest.raises(CnnlabError, match="not UTF-8"):
        _class_names(tmp_path, LAYOUTS["cifar10"], "cifar10")
    (tmp_path / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a\nb"] + [b"x"] * 9}))
    names, _ = _class_names(tmp_path, LAYOUTS["cifar10"], "cifar10")
    assert names[0] == "a\\nb"


def test_cifar_decompression_bomb_is_refused(tmp_path):
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"\0" * (3 << 20)))
    with pytest.raises(CnnlabError, match="decompressed"):
        read_bytes(tmp_path / "b.gz", limit=1 << 20)
    assert len(read_bytes(tmp_path / "b.gz", limit=4 << 20)) == 3 << 20


def test_cifar_bomb_in_a_capped_process(tmp_path):
    """The whole reader under a 3 GiB address-space cap: a clear error, no MemoryError."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(reconstruct_pickle((500000, 3072)))
    r = run_capped(
        "import sys\nfrom cnnlab.cli import main\nsys.exit(main(['data', 'cifar10:%s', '--no-cache']))" % folder,
        tmp_path,
        cap=3 << 30,
    )
    assert r.returncode == 2 and "refused an array declared" in r.stderr, r.stderr[-600:]


# -- IDX ----------------------------------------------------------------------------------------------


def idx_header(code: int, shape: tuple) -> bytes:
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def test_idx_huge_dimensions_are_refused_before_reading(tmp_path):
    (tmp_path / "a").write_bytes(idx_header(0x08, (4_000_000_000, 4_000_000_000, 28)) + b"\0" * 100)
    with pytest.raises(CnnlabError, match="more than the 4 GiB"):
        read_idx(tmp_path / "a")
    (tmp_path / "b").write_bytes(idx_header(0x08, (60000, 28, 28)) + b"\0" * 100)
    with pytest.raises(CnnlabError, match="file holds 100"):
        read_idx(tmp_path / "b")
    (tmp_path / "c.gz").write_bytes(gzip.compress(idx_header(0x08, (60000, 28, 28)) + b"\0" * 100))
    with pytest.raises(CnnlabError, match="file holds 100"):
        read_idx(tmp_path / "c.gz")
    (tmp_path / "d").write_bytes(idx_header(0x08, (2**31, 2**31)))  # product overflows 64 bits in NumPy
    with pytest.raises(CnnlabError, match="more than the 4 GiB"):
        read_idx(tmp_path / "d")


def test_idx_gzip_holding_more_than_declared(tmp_path):
    (tmp_path / "e.gz").write_bytes(gzip.compress(idx_header(0x08, (2, 2)) + b"\0" * (1 << 20)))
    with pytest.raises(CnnlabError, match="holds 5\\+"):
        read_idx(tmp_path / "e.gz")


def write_mnist(folder, images=None, labels=None, test_images=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = images if images is not None else rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = labels if labels is not None else (np.arange(20) % 10).astype(np.uint8)
    test_images = test_images if test_images is not None else images
    for prefix, imgs in (("train", images), ("t10k", test_images)):
        if imgs.dtype == np.uint8:
            write_idx(folder / f"{prefix}-images-idx3-ubyte", imgs)
        else:
            (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
                idx_header(0x0D, imgs.shape) + imgs.astype(">f4").tobytes()
            )
        if labels.dtype in (np.uint8, np.int8):
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels[: len(imgs)])
    return folder


def test_idx_float_images_are_refused(tmp_path):
    folder = write_mnist(tmp_path / "m", images=np.random.default_rng(0).random((20, 28, 28)).astype(np.float32))
    with pytest.raises(CnnlabError, match="holds float32 data; cnnlab reads uint8 images"):
        load_data(f"mnist:{folder}", cache=False)


def test_idx_negative_labels_are_refused(tmp_path):
    folder = write_mnist(tmp_path / "m", labels=np.array([-1] + [1] * 19, dtype=np.int8))
    with pytest.raises(CnnlabError, match="negative label"):
        load_data(f"mnist:{folder}", cache=False)


def test_test_split_of_another_image_size_is_refused_at_load(tmp_path):
    folder = write_mnist(tmp_path / "m", test_images=np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(CnnlabError, match="32x32 images but the training split 28x28"):
        load_data(f"mnist:{folder}", cache=False)
