"""WebDataset shards: written by `cnnlab shard` / write_shards and read back in order, checked against
the webdataset library in both directions and against the image-folder reader."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image
from test_stream import noise_tree

from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.data.wds import expand, write_shards
from cnnlab.errors import CnnlabError


def opts(tmp_path, **kw):
    return {"cache_dir": str(tmp_path / "cache"), "workers": 1, "image_size": 12, "progress": False, **kw}


def test_brace_patterns_expand_as_webdataset_does():
    from braceexpand import braceexpand

    for pattern in ("s-{000000..000011}.tar", "a{1..3}-{x,y}.tar", "{08..10}", "plain.tar"):
        assert expand(pattern) == list(braceexpand(pattern))


def test_shards_read_back_in_order_and_equal_the_image_folder(tmp_path):
    root = noise_tree(tmp_path / "ds", per_class=7)  # 21 images
    written = write_shards(root, tmp_path / "shards", per_shard=8)
    assert [p.name for p in written["train"]] == ["train-000000.tar", "train-000001.tar", "train-000002.tar"]
    # the webdataset library reads our shards: keys in order, labels and the files' own bytes
    files = [(p, k) for k, c in enumerate(("ant", "bee", "cow")) for p in sorted((root / c).iterdir())]
    samples = list(wds.WebDataset(str(tmp_path / "shards" / "train-{000000..000002}.tar"), shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"{i:08d}" for i in range(21)]
    for s, (path, label) in zip(samples, files):
        ext = path.suffix[1:]
        assert int(s["cls"]) == label and s[ext] == path.read_bytes()
    # and we read them back as the image-folder reader reads the folder (the same order, the same pixels)
    folder = load_data(f"imagefolder:{root}", **opts(tmp_path, val_split=0))
    for spec in (f"wds:{tmp_path / 'shards'}", f"wds:{tmp_path / 'shards'}/train-{{000000..000002}}.tar"):
        for mode in ("memory", "disk", "none"):
            shards = load_data(spec, **opts(tmp_path, val_split=0, data_cache=mode))
            assert shards.classes == ["ant", "bee", "cow"]
            assert torch.equal(shards.train.labels, folder.train.labels)
            assert torch.equal(shards.train.images[:], folder.train.images)


def test_shards_the_webdataset_library_wrote_are_read(tmp_path):
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(10)]
    with wds.TarWriter(str(tmp_path / "lib-000000.tar")) as sink:
        for i, arr in enumerate(arrays):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            sink.write({"__key__": f"sample{i:04d}", "png": buf.getvalue(), "cls": i % 2})
    data = load_data(f"wds:{tmp_path}/lib-{{000000..000000}}.tar", **opts(tmp_path, val_split=0))
    assert data.classes == ["0", "1"] and data.train.labels.tolist() == [i % 2 for i in range(10)]
    assert torch.equal(data.train.images, torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))


def test_cli_shard_then_train_split_layout(tmp_path, capsys):
    noise_tree(tmp_path / "ds" / "train", per_class=5)
    noise_tree(tmp_path / "ds" / "val", per_class=2, seed=1)
    assert main(["shard", str(tmp_path / "ds"), str(tmp_path / "out"), "--per-shard", "4"]) == 0
    assert "train: 4 shards" in capsys.readouterr().out
    data = load_data(f"wds:{tmp_path / 'out'}", **opts(tmp_path))
    assert data.train.class_counts() == [5, 5, 5] and data.val.class_counts() == [2, 2, 2]
    assert "3 shards" not in data.describe() and "train, val" in data.describe()


def test_broken_shards_are_explained(tmp_path):
    with pytest.raises(CnnlabError, match="shard .*missing-000000.tar not found \\(and 1 more\\)"):
        load_data(f"wds:{tmp_path}/missing-{{000000..000001}}.tar", **opts(tmp_path))
    with tarfile.open(tmp_path / "nolabel-0.tar", "w") as tar:
        info = tarfile.TarInfo("a.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(CnnlabError, match="sample 'a' in .* has no .cls label"):
        load_data(f"wds:{tmp_path}/nolabel-0.tar", **opts(tmp_path))
    with pytest.raises(CnnlabError, match="cifar10 is always read into memory"):
        load_data("cifar10:/nowhere", data_cache="disk")
