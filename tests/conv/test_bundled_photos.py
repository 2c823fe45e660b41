"""The two photos shipped with cnnlab: the same pixels as scikit-image's, and no scikit-image needed."""

from __future__ import annotations

import hashlib
import sys

import numpy as np
import pytest

from cnnlab.conv.filters import BUNDLED_PHOTOS, load_image, run_filter
from cnnlab.errors import CnnlabError

SHA256 = {
    "camera": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "coffee": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_bundled_file_is_the_recorded_one(name):
    data = (BUNDLED_PHOTOS / f"{name}.png").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256[name]


@pytest.mark.parametrize("name", sorted(SHA256))
def test_same_pixels_as_scikit_image(name):
    skdata = pytest.importorskip("skimage.data")
    ours = load_image(f"skimage:{name}")
    theirs = np.asarray(getattr(skdata, name)())
    assert ours.reshape(theirs.shape).tolist() == theirs.tolist()


def test_tour_photo_works_without_scikit_image(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    img = load_image("skimage:camera", max_size=256)
    assert img.shape[:2] == (256, 256)
    assert run_filter("sharpen", "skimage:camera", max_size=64) is not None
    with pytest.raises(CnnlabError, match="needs scikit-image") as e:
        load_image("skimage:astronaut")
    assert "skimage:camera" in str(e.value) and "cnnlab[images]" in e.value.hint
