"""--data-cache memory | disk | none on a small folder the test writes: the same pixels, statistics and
batches in every mode, with worker processes, resumed mid-epoch and sharded by rank."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import decode, load_data, parse_augment
from cnnlab.data.loader import BatchLoader
from cnnlab.data.stream import LazyImages, parse_bytes
from cnnlab.data.stream_loader import StreamLoader, make_loader
from cnnlab.errors import CnnlabError
from cnnlab.train.distributed import DistInfo, shard


def noise_tree(root, classes=("ant", "bee", "cow"), per_class=12, seed=0):
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (20 + i % 5, 24, 3), dtype=np.uint8)
            arr[..., k] //= 2  # the classes differ in colour
            Image.fromarray(arr).save(root / name / f"{i:02d}.{'png' if i % 3 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return noise_tree(tmp_path_factory.mktemp("stream") / "ds")


def load(tree, tmp_path, mode, **kw):
    return load_data(
        f"imagefolder:{tree}",
        cache_dir=str(tmp_path / "cache"),
        workers=1,
        image_size=16,
        data_cache=mode,
        progress=False,
        **kw,
    )


def batches(loader, epoch, start=0):
    loader.set_epoch(epoch)
    return list(loader.iter_from(start))


def same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_every_mode_holds_the_same_pixels_and_statistics(tree, tmp_path):
    mem, disk, none = (load(tree, tmp_path, m) for m in ("memory", "disk", "none"))
    assert not mem.train.streamed and disk.train.streamed and none.train.streamed
    assert isinstance(disk.train.images, LazyImages) and "memory-mapped" in repr(disk.train.images)
    for d in (disk, none):
        assert torch.equal(d.train.images[:], mem.train.images) and torch.equal(d.val.images[:], mem.val.images)
        assert torch.equal(d.train.labels, mem.train.labels)
        assert d.mean == mem.mean and d.std == mem.std  # exactly: per-image sums vs histograms, same integers
    # the statistics against a float64 formula written here
    x = mem.train.images.double() / 255
    assert mem.mean == pytest.approx(x.mean((0, 2, 3)).tolist(), abs=1e-12)
    assert mem.std == pytest.approx(x.transpose(0, 1).reshape(3, -1).std(1, unbiased=False).tolist(), abs=1e-9)
    assert "--data-cache disk" in disk.describe() and "decoded from the files at every batch" in none.describe()


@pytest.mark.parametrize("mode", ["disk", "none"])
def test_streamed_batches_equal_the_in_memory_loaders(tree, tmp_path, mode):
    mem, streamed = load(tree, tmp_path, "memory"), load(tree, tmp_path, mode)
    aug = parse_augment("crop=2,flip,jitter=0.3", mem.train.image_shape, stats=mem)
    kw = dict(shuffle=True, drop_last=True, seed=5, transform=aug, alternating_flip=True)
    ref = BatchLoader(mem.train, 8, mem.mean, mem.std, **kw)
    loader = make_loader(streamed.train, 8, streamed.mean, streamed.std, workers=2, **kw)
    assert isinstance(loader, StreamLoader) and len(loader) == len(ref) == len(mem.train) // 8
    for epoch in (1, 2):
        same(batches(loader, epoch), batches(ref, epoch))
    # resumed mid-epoch with workers: exactly the rest of the epoch
    same(batches(loader, 2, start=2), batches(ref, 2)[2:])


def test_shards_are_the_ranks_rows_of_the_whole_batch(tree, tmp_path):
    data = load(tree, tmp_path, "disk")
    aug = parse_augment("rrc=0.5,flip,cutout=4,pca=0.1", data.train.image_shape, stats=data)
    kw = dict(shuffle=True, drop_last=True, seed=1, transform=aug, alternating_flip=True)
    whole = batches(StreamLoader(data.train, 9, data.mean, data.std, workers=0, **kw), 3)
    for world in (2, 3):
        for rank in range(world):
            part = batches(StreamLoader(data.train, 9, data.mean, data.std, workers=1, shard=(rank, world), **kw), 3)
            info = DistInfo(rank, world, rank)
            same(part, [(shard(x, info), shard(y, info)) for x, y in whole])


def test_auto_goes_to_disk_past_the_memory_budget(tree, tmp_path, monkeypatch):
    n_bytes = 36 * 3 * 16 * 16  # the decoded set: 27,648 bytes
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", str(n_bytes))
    assert not load(tree, tmp_path, "auto").train.streamed  # fits exactly
    monkeypatch.setenv("CNNLAB_DATA_MEMORY", "20k")
    assert load(tree, tmp_path, "auto").train.streamed
    with pytest.raises(
        CnnlabError,
        match=r"need 27.0 KB in memory, more than the 20.0 KB allowed "
        r"\(\$CNNLAB_DATA_MEMORY\)",
    ) as e:
        load(tree, tmp_path, "memory")
    assert "--data-cache disk" in e.value.hint
    assert parse_bytes("512M") == 512 * 2**20 and parse_bytes("1.5GB") == 1.5 * 2**30 and parse_bytes("10") == 10
    with pytest.raises(CnnlabError, match="not a size in bytes"):
        parse_bytes("lots")


def test_the_disk_cache_is_decoded_once(tree, tmp_path, monkeypatch):
    first = load(tree, tmp_path, "disk")
    monkeypatch.setattr(decode, "decode_all", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    again = load(tree, tmp_path, "disk")
    assert torch.equal(again.train.images[:], first.train.images[:])
    assert "memory-mapped from the cache" in again.describe()
    assert torch.equal(load(tree, tmp_path, "memory").train.images, first.train.images[:])  # the same entry


def test_an_unreadable_file_is_named_when_a_batch_reads_it(tmp_path):
    root = noise_tree(tmp_path / "ds", per_class=4)
    (root / "bee" / "02.png").write_bytes(b"not a png")
    with pytest.raises(CnnlabError, match=r"bee/02.png: not a readable image") as e:
        load(root, tmp_path, "none", val_split=0)  # a small set: its statistics read every image
    assert "--data-cache disk or memory check every image" in e.value.hint
    (root / "bee" / "02.png").unlink()
    data = load(root, tmp_path, "none", val_split=0)
    (root / "cow" / "01.png").write_bytes(b"broken since")
    loader = make_loader(data.train, 11, data.mean, data.std, workers=1)
    with pytest.raises(CnnlabError, match=r"^\S+cow/01.png: not a readable image") as e:
        list(loader.iter_from(0))
    assert "DataLoader worker" not in str(e.value) and "--data-cache disk" in e.value.hint
