"""The generated defect set (seeded, exact masks) and the MVTec-layout reader's errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.tasks.anomaly.data import load_images, load_masks, read_mvtec, resolve_data, split_train
from cnnlab.tasks.anomaly.textures import COUNTS, draw_defect, generate, weave


def test_defect_masks_are_exactly_the_changed_pixels():
    rng = np.random.default_rng(0)
    for kind in ("scratch", "hole", "stain"):
        img = weave(np.random.default_rng(1), 64)
        out, mask = draw_defect(img, kind, rng)
        changed = np.any(np.abs(out - img) > 1e-9, axis=-1)
        assert mask.any() and np.array_equal(changed, mask), kind


def test_generated_layout_is_reproducible(tmp_path):
    a = generate(tmp_path / "a", "weave", size=32)
    b = generate(tmp_path / "b", "weave", size=32)
    ds = read_mvtec(a)
    assert len(ds.train) == COUNTS["train/good"]
    assert ds.defects == ["hole", "scratch", "stain"]
    assert sum(t.defect == "good" and t.mask is None for t in ds.test) == COUNTS["test/good"]
    for t in ds.test[:3] + ds.test[-3:]:
        rel = t.path.relative_to(a)
        assert np.array_equal(np.asarray(Image.open(t.path)), np.asarray(Image.open(b / rel)))
    x = load_images(ds.train[:4], 24, 3)
    assert x.shape == (4, 3, 24, 24) and x.dtype == torch.uint8
    masks = load_masks(ds.test, 32)
    assert masks[[t.defect != "good" for t in ds.test]].reshape(-1, 32 * 32).any(1).all()
    assert not masks[[t.defect == "good" for t in ds.test]].any()


def test_reader_errors(tmp_path):
    with pytest.raises(CnnlabError, match="does not exist"):
        read_mvtec(tmp_path / "nope")
    (tmp_path / "bottle" / "train" / "good").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "bottle" / "train" / "good" / "000.png")
    with pytest.raises(CnnlabError) as e:
        read_mvtec(tmp_path)
    assert "mvtec:" in e.value.hint and "bottle" in e.value.hint
    (tmp_path / "bottle" / "test" / "crack").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "bottle" / "test" / "crack" / "000.png")
    with pytest.raises(CnnlabError, match="000_mask.png"):
        read_mvtec(tmp_path / "bottle")
    with pytest.raises(CnnlabError, match="unknown anomaly data"):
        resolve_data("folder:x")
    with pytest.raises(CnnlabError, match="no category"):
        resolve_data("defects-sample:marble")


def test_validation_split_is_held_out_and_seeded(tmp_path):
    paths = [tmp_path / f"{i}.png" for i in range(20)]
    fit, val = split_train(paths, 0.1, seed=3)
    assert len(val) == 2 and not set(fit) & set(val) and len(fit) + len(val) == 20
    assert split_train(paths, 0.1, seed=3) == (fit, val)
    with pytest.raises(CnnlabError):
        split_train(paths[:2], 0.1, 0)
