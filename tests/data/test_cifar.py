"""CIFAR-10/100 readers on pickles the test builds (plain, .gz, .xz), the restricted unpickler,
layout errors, the decode cache, and (slow) the real CIFAR-10 in /work/shared/data."""

from __future__ import annotations

import gzip
import lzma
import os
import pickle

import numpy as np
import pytest

from cnnlab.data import cifar, load_data
from cnnlab.data.safe_pickle import load_data_pickle
from cnnlab.errors import CnnlabError


def batch(n, seed, label_key=b"labels", classes=10):
    rng = np.random.default_rng(seed)
    d = {
        b"batch_label": f"batch {seed}".encode(),
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key: [int(v) for v in rng.integers(0, classes, n)],
        b"filenames": [b"x.png"] * n,
    }
    if label_key == b"fine_labels":
        d[b"coarse_labels"] = [v // 5 for v in d[label_key]]
    return d


def write(path, obj, compression):
    raw = pickle.dumps(obj, protocol=2)  # the official files are protocol 2
    if compression == "gz":
        path, raw = path.with_name(path.name + ".gz"), gzip.compress(raw)
    elif compression == "xz":
        path, raw = path.with_name(path.name + ".xz"), lzma.compress(raw)
    path.write_bytes(raw)
    return path


def make_cifar10(root, compression="", n=12):
    root.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{i}": batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = batch(n, 9)
    for name, d in batches.items():
        write(root / name, d, compression)
    write(
        root / "batches.meta",
        {b"label_names": [c.encode() for c in cifar.CIFAR10_CLASSES], b"num_cases_per_batch": n, b"num_vis": 3072},
        "",
    )
    return batches


@pytest.mark.parametrize("compression", ["", "gz", "xz"])
def test_cifar10_plain_gz_xz(tmp_path, compression):
    batches = make_cifar10(tmp_path / "cifar-10-batches-py", compression)
    data = load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}", cache=False)
    # 10% of each class of the training batches is the validation split; test_batch is the test split
    assert (len(data.train), len(data.val), len(data.test)) == (50, 10, 12)  # >= 1 of each class
    assert (
        load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}", cache=False, val_split=0).train.labels[:12].tolist()
        == batches["data_batch_1"][b"labels"]
    )
    assert data.classes == cifar.CIFAR10_CLASSES
    # row layout: 1024 R, 1024 G, 1024 B values, rows of 32 -> C x H x W
    full = load_data(f"cifar10:{tmp_path / 'cifar-10-batches-py'}", cache=False, val_split=0)
    first = batches["data_batch_1"][b"data"][0]
    assert full.train.images[0, 0, 0, :5].tolist() == first[:5].tolist()
    assert full.train.images[0, 1, 0, 0] == first[1024] and full.train.images[0, 2, 31, 31] == first[3071]
    assert full.train.images[12, 0, 0, 0] == batches["data_batch_2"][b"data"][0, 0]
    assert data.test.labels.tolist() == batches["test_batch"][b"labels"]


def test_parent_folder_is_accepted(tmp_path):
    make_cifar10(tmp_path / "cifar-10-batches-py")
    assert len(load_data(f"cifar10:{tmp_path}", cache=False, val_split=0).train) == 60


def test_cifar100_fine_labels(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    train, test = batch(40, 1, b"fine_labels", 100), batch(10, 2, b"fine_labels", 100)
    write(root / "train", train, "xz")
    write(root / "test", test, "gz")
    write(
        root / "meta",
        {
            b"fine_label_names": [f"f{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"c{i}".encode() for i in range(20)],
        },
        "",
    )
    data = load_data(f"cifar100:{root}", cache=False)
    assert len(data.classes) == 100 and data.classes[7] == "f7"
    assert load_data(f"cifar100:{root}", cache=False, val_split=0).train.labels.tolist() == train[b"fine_labels"]
    assert data.test.labels.tolist() == test[b"fine_labels"]


def test_cifar10_folder_given_as_cifar100_is_explained(tmp_path):
    make_cifar10(tmp_path)
    with pytest.raises(CnnlabError, match="train") as e:
        load_data(f"cifar100:{tmp_path}", cache=False)
    assert "looks like cifar10" in e.value.hint


def test_missing_batch_named(tmp_path):
    make_cifar10(tmp_path)
    os.unlink(tmp_path / "data_batch_3")
    with pytest.raises(CnnlabError, match=r"data_batch_3\[.gz\|.xz\] not found"):
        load_data(f"cifar10:{tmp_path}", cache=False)


def test_code_in_a_pickle_is_refused(tmp_path):
    make_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(CnnlabError, match=r"data_batch_2: refused to unpickle \(refused global (posix|os)\.system"):
        load_data(f"cifar10:{tmp_path}", cache=False)
    assert not (tmp_path / "pwned").exists()


def test_object_arrays_are_refused():
    with pytest.raises(CnnlabError, match="refused array dtype"):
        load_data_pickle(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2), "f")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_unpickler_reads_numeric_arrays_and_containers(protocol):
    obj = {b"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": [1, 2.5, b"x", "y", (True, None)]}
    back = load_data_pickle(pickle.dumps(obj, protocol=protocol), "f")
    np.testing.assert_array_equal(back[b"a"], obj[b"a"])
    assert back["b"] == obj["b"]


def test_corrupt_and_truncated_batches(tmp_path):
    make_cifar10(tmp_path, "xz")
    p = tmp_path / "test_batch.xz"
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(CnnlabError, match="test_batch.xz: cannot decompress"):
        load_data(f"cifar10:{tmp_path}", cache=False)
    p.write_bytes(pickle.dumps({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}, protocol=2))
    with pytest.raises(CnnlabError, match=r"'data' is uint8 \(3, 100\), expected uint8 N x 3072"):
        load_data(f"cifar10:{tmp_path}", cache=False)


def test_cache_skips_decoding_on_the_second_load(tmp_path, monkeypatch):
    make_cifar10(tmp_path / "c", "xz")
    first = load_data(f"cifar10:{tmp_path / 'c'}", cache_dir=str(tmp_path / "cache"))
    assert list((tmp_path / "cache" / "cifar").iterdir())

    def fail(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cifar, "read_batch", fail)
    second = load_data(f"cifar10:{tmp_path / 'c'}", cache_dir=str(tmp_path / "cache"))
    assert (second.train.images == first.train.images).all() and (second.val.labels == first.val.labels).all()
    # an edited batch file changes the key: decoded again
    os.utime(tmp_path / "c" / "data_batch_1.xz", ns=(1, 1))
    with pytest.raises(AssertionError, match="decoded again"):
        load_data(f"cifar10:{tmp_path / 'c'}", cache_dir=str(tmp_path / "cache"))


@pytest.mark.slow
def test_real_cifar10(shared_dir, tmp_path):
    """Facts verified in shared/data/cifar-10-batches-py/README.md."""
    # val_split=0: the five training batches in file order; the test batch is the test split
    data = load_data(f"cifar10:{shared_dir / 'data' / 'cifar-10-batches-py'}", cache=False, val_split=0)
    assert (len(data.train), len(data.val), len(data.test)) == (50_000, 0, 10_000)
    assert data.train.class_counts() == [5000] * 10 and data.test.class_counts() == [1000] * 10
    assert data.train.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert data.test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    # the default carve: 5,000 validation images (500 per class) from the training batches
    carved = load_data(f"cifar10:{shared_dir / 'data' / 'cifar-10-batches-py'}", cache=False)
    assert (len(carved.train), len(carved.val)) == (45_000, 5_000)
    assert carved.val.class_counts() == [500] * 10
    assert data.train.labels[:10_000].bincount().tolist() == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    flat = data.train.images.reshape(50_000, 3072)
    assert flat[0, :3].tolist() == [59, 43, 50] and flat[0, -3:].tolist() == [140, 84, 72]
    assert flat[1, :3].tolist() == [154, 126, 105]
    assert flat[9999, :3].tolist() == [62, 61, 60] and flat[9999, -3:].tolist() == [130, 130, 131]
    # the well-known CIFAR-10 training-set channel means and standard deviations
    assert data.mean == pytest.approx([0.4914, 0.4822, 0.4465], abs=1e-4)
    assert data.std == pytest.approx([0.2470, 0.2435, 0.2616], abs=1e-4)
