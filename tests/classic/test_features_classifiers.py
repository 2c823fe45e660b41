"""Hand-made features (HOG against scikit-image, colour histogram, bag of visual words), the `linear` and
`mlp` models, the feature classifier loop (softmax / SVM + L2), `cnnlab features`, class templates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.feature import hog as skimage_hog

from cnnlab import create_model, load_run
from cnnlab.classic.features import BagOfWords, color_histogram, hog, hog_features, kmeans
from cnnlab.classic.train import ClassicConfig, fit_features, save_result
from cnnlab.cli import main
from cnnlab.data import load_data
from cnnlab.data.dataset import DataSplits
from cnnlab.errors import CnnlabError


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(8, 40),
    st.integers(8, 40),
    st.sampled_from([1, 3]),
    st.integers(2, 12),
    st.integers(2, 8),
    st.integers(2, 8),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["L1", "L1-sqrt", "L2", "L2-Hys"]),
    st.booleans(),
)
def test_hog_matches_skimage(seed, h, w, c, orientations, ch, cw, bh, bw, norm, sqrt):
    if h // ch < bh or w // cw < bw:
        return  # fewer cells than one block: both refuse
    img = np.random.default_rng(seed).random((h, w, c) if c == 3 else (h, w))
    ours = hog(img, orientations, (ch, cw), (bh, bw), norm, transform_sqrt=sqrt)
    theirs = skimage_hog(
        img,
        orientations=orientations,
        pixels_per_cell=(ch, cw),
        cells_per_block=(bh, bw),
        block_norm=norm,
        transform_sqrt=sqrt,
        channel_axis=-1 if c == 3 else None,
    )
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)


def test_hog_on_a_digit_and_by_hand():
    d = load_data("mnist-sample").train.images[:3]
    f = hog_features(d)
    assert f.shape == (3, 3 * 3 * 2 * 2 * 9)  # 4x4 cells of 7 px, 3x3 blocks of 2x2 cells, 9 bins
    ref = skimage_hog(d[0, 0].numpy() / 255.0, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2))
    np.testing.assert_allclose(f[0], ref, atol=1e-6)
    # a vertical edge: horizontal gradient only, angle 0, all in bin 0; one cell of 4x4 px, one block, L2
    img = np.zeros((4, 4))
    img[:, 2:] = 1.0
    cell = hog(img, 4, (4, 4), (1, 1), "L2", feature_vector=False)[0, 0, 0, 0]
    assert cell[0] == pytest.approx(1.0, abs=1e-9) and np.allclose(cell[1:], 0)
    with pytest.raises(CnnlabError, match="fewer than one block"):
        hog(np.zeros((8, 8)), pixels_per_cell=(8, 8), cells_per_block=(2, 2))


def test_color_histogram_counts():
    img = np.zeros((1, 3, 2, 2), dtype=np.uint8)
    img[0, 0, 0, 0] = 255  # one red pixel, three black ones
    h = color_histogram(img, bins=2)
    assert h.shape == (1, 8) and h[0, 0] == 0.75 and h[0, 0b100] == 0.25
    assert color_histogram(np.full((2, 1, 4, 4), 200, np.uint8), bins=4)[:, 3].tolist() == [1.0, 1.0]


def test_kmeans_and_bag_of_words():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0], [5, 5], [-5, 5]])
    x = np.concatenate([c + 0.1 * rng.normal(size=(50, 2)) for c in centres])
    found = kmeans(x, 3, seed=1)
    assert sorted(map(tuple, np.round(found).astype(int))) == sorted(map(tuple, centres.astype(int)))
    imgs = load_data("mnist-sample").train.images[:40]
    bow = BagOfWords.fit(imgs, k=8, max_images=40)
    enc = bow.encode(imgs[:5])
    assert enc.shape == (5, 8) and np.allclose(enc.sum(1), 1)  # each image's words are a distribution


def _small_splits(n=600):
    d = load_data("mnist-sample")
    return DataSplits("mnist-sample-600", d.train.subset(torch.arange(n)), d.val.subset(torch.arange(300)))


@pytest.mark.parametrize("features, model, loss", [("pixels", "linear", "svm"), ("hog", "mlp", "softmax")])
def test_feature_classifiers_learn(features, model, loss, tmp_path):
    r = fit_features(
        ClassicConfig(features=features, model=model, loss=loss, epochs=8, hidden=[32], progress=False),
        splits=_small_splits(),
    )
    assert r.heldout_top1 > 70 and r.train_top1 > 75  # 10 classes: chance is 10%
    run = load_run(save_result(r, tmp_path / "run"))
    assert run.meta["features"] == features and run.meta["loss"] == loss
    dim = 784 if features == "pixels" else 324
    assert sum(p.numel() for p in run.model.parameters()) == (
        dim * 10 + 10 if model == "linear" else dim * 32 + 32 + 32 * 10 + 10
    )


def test_linear_and_mlp_models():
    m = create_model("linear")
    assert sum(p.numel() for p in m.parameters()) == 7850
    x = torch.randn(2, 1, 28, 28)
    np.testing.assert_allclose(m(x).detach(), (x.flatten(1) @ m.fc.weight.T + m.fc.bias).detach(), rtol=1e-5)
    assert m.templates().shape == (10, 1, 28, 28)
    mlp = create_model("mlp", hidden=[64, 32], activation="tanh", in_chans=3, image_size=32)
    assert sum(p.numel() for p in mlp.parameters()) == 3072 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    with pytest.raises(CnnlabError, match="exactly 32x32"):
        mlp(torch.randn(1, 3, 28, 28))
    with pytest.raises(CnnlabError, match="not images"):
        mlp.templates()


def test_cli_features_and_templates(capsys, tmp_path):
    assert main(["features", "list"]) == 0
    assert "hog" in capsys.readouterr().out
    out = tmp_path / "hog.npz"
    assert main(["features", "extract", "colorhist", "--out", str(out)]) == 0
    z = np.load(out)
    assert z["train_x"].shape[1] == 8 and len(z["train_x"]) == len(z["train_y"])
    run = tmp_path / "run"
    assert main(["features", "train", "--features", "pixels", "--epochs", "1", "--loss", "svm", "--out", str(run)]) == 0
    assert "held-out split" in capsys.readouterr().out
    from cnnlab.viz.templates import class_templates, plot_templates

    images, classes = class_templates(run)
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.uint8 and classes[0] == "0"
    assert all(im.min() == 0 and im.max() == 255 for im in images)  # each scaled to its own range
    png = plot_templates(run, tmp_path / "t.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["viz", "templates", str(run), "-o", str(tmp_path / "v.png")]) == 0
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG" and "wrote" in capsys.readouterr().out
    assert main(["features", "train", "--features", "sift"]) == 2
    assert "sift" in capsys.readouterr().err
    hog_run = tmp_path / "hog"
    fit = fit_features(ClassicConfig(features="hog", epochs=1, progress=False), splits=_small_splits(200))
    save_result(fit, hog_run)
    with pytest.raises(CnnlabError, match="not images"):
        class_templates(hog_run)


def test_images_to_features_shapes_are_checked():
    with pytest.raises(CnnlabError, match="joint histogram"):
        color_histogram(np.zeros((1, 4, 2, 2), np.uint8))
