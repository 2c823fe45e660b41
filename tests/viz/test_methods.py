"""saliency, integrated gradients, occlusion, filters, embeddings, receptive fields: against
brute-force or closed-form answers computed here."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch
import torch.nn as nn

import cnnlab
from cnnlab.errors import CnnlabError
from cnnlab.viz import (
    embedding,
    first_layer_filters,
    integrated_gradients,
    occlusion,
    penultimate_features,
    receptive_field,
    saliency,
)
from cnnlab.viz.embedding import pca_2d

from helpers.viz import KeepRegion, model_state, region_net


class Linear2(nn.Module):
    """logit_0 = sum(w * x), logit_1 = 0: every input gradient is w."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_gradient_and_smoothgrad_of_a_linear_model_are_its_weights():
    torch.manual_seed(0)
    w = torch.randn(1, 3, 8, 8)
    model = Linear2(w)
    x = torch.randn(1, 3, 8, 8)
    expect = w[0].abs().amax(0)
    expect = (expect / expect.max()).numpy()
    for method in ("gradient", "smoothgrad"):  # the gradient is the same at every noisy copy
        np.testing.assert_allclose(saliency(model, x, target=0, method=method), expect, rtol=1e-5, atol=1e-6)


def test_guided_backprop_equals_backward_hooks_written_here():
    mask = torch.ones(1, 1, 16, 16)
    net = region_net(mask)
    torch.manual_seed(3)
    x = torch.randn(1, 1, 16, 16)
    # independent guided backprop: clamp the gradient leaving every ReLU to its positive part
    handles = [
        m.register_full_backward_hook(lambda m, gi, go: (gi[0].clamp_min(0),))
        for m in net.modules()
        if isinstance(m, nn.ReLU)
    ]
    xin = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(xin)[0, 0], xin)
    for h in handles:
        h.remove()
    expect = g[0].abs().amax(0)
    expect = (expect / expect.max()).numpy()
    before = model_state(net)
    got = saliency(net, x, target=0, method="guided")
    assert model_state(net) == before
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)
    assert np.abs(got - saliency(net, x, target=0, method="gradient")).max() > 1e-3


def test_guided_backprop_reaches_functional_relu_calls():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    torch.manual_seed(0)
    net = Functional()
    x = torch.randn(1, 1, 8, 8)
    assert np.abs(saliency(net, x, 0, "guided") - saliency(net, x, 0, "gradient")).max() > 1e-3


@pytest.mark.parametrize("name", ["lenet5", "resnet20"])
def test_integrated_gradients_completeness_within_1_percent(name):
    torch.manual_seed(0)
    model = cnnlab.create_model(name, num_classes=10)
    x = torch.randn(1, *cnnlab.model_card(name).input_size)
    before = model_state(model)
    ig = integrated_gradients(model, x, steps=64)
    assert model_state(model) == before
    with torch.no_grad():
        model.eval()
        f_x, f_0 = model(x)[0, ig.target], model(torch.zeros_like(x))[0, ig.target]
    assert ig.score == pytest.approx(float(f_x), rel=1e-5)
    assert ig.baseline_score == pytest.approx(float(f_0), rel=1e-5, abs=1e-6)
    assert abs(ig.attributions.astype(np.float64).sum() - float(f_x - f_0)) <= 0.01 * abs(float(f_x - f_0))
    assert ig.completeness_error <= 0.01


def test_occlusion_of_a_model_that_looks_at_one_quadrant():
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., :8, :8] = 1  # the top-left quadrant

    class Quadrant(nn.Module):
        def __init__(self):
            super().__init__()
            self.keep = KeepRegion(mask)

        def forward(self, x):
            s = 0.01 * self.keep(x).flatten(1).sum(1)
            return torch.stack([s, -s], 1)

    model = Quadrant()
    torch.manual_seed(0)
    x = torch.rand(1, 1, 16, 16) + 0.5
    before = model_state(model)
    got = occlusion(model, x, target=0, patch=4, stride=2, batch=7)
    assert model_state(model) == before
    # brute force: every window, one image at a time, averaged over the windows covering each pixel
    total, count = np.zeros((16, 16)), np.zeros((16, 16))
    for top in range(0, 13, 2):
        for left in range(0, 13, 2):
            xo = x.clone()
            xo[..., top : top + 4, left : left + 4] = 0
            p = torch.softmax(model(xo), 1)[0, 0].item()
            total[top : top + 4, left : left + 4] += p
            count[top : top + 4, left : left + 4] += 1
    np.testing.assert_allclose(got, total / count, rtol=1e-6)
    p0 = torch.softmax(model(x), 1)[0, 0].item()
    assert np.allclose(got[10:, :], p0) and np.allclose(got[:, 10:], p0)  # windows there never touch the quadrant
    assert (got[:6, :6] < p0 - 0.01).all()


def test_occlusion_window_positions_cover_the_border():
    from cnnlab.viz.occlusion import window_starts

    assert window_starts(28, 8, 4) == [0, 4, 8, 12, 16, 20]
    assert window_starts(30, 8, 4) == [0, 4, 8, 12, 16, 20, 22]
    assert window_starts(8, 8, 4) == [0]


def test_filters_are_the_kernels_and_layers_are_checked():
    model = cnnlab.create_model("resnet18", num_classes=3)
    k = first_layer_filters(model)
    assert k.dtype == np.float32 and k.shape == (64, 3, 7, 7)
    np.testing.assert_array_equal(k, model.conv1.weight.detach().numpy())
    np.testing.assert_array_equal(
        first_layer_filters(model, "layer1.0.conv2"), model.layer1[0].conv2.weight.detach().numpy()
    )
    with pytest.raises(CnnlabError, match="no convolution kernel"):
        first_layer_filters(model, "bn1")
    with pytest.raises(CnnlabError, match="no layer named"):
        first_layer_filters(model, "conv9")


def test_penultimate_features_are_pre_logits_and_pca_is_the_principal_axes():
    torch.manual_seed(0)
    model = cnnlab.create_model("lenet5")
    images = torch.randn(40, 1, 28, 28)
    before = model_state(model)
    feats = penultimate_features(model, images, batch=16)
    assert model_state(model) == before
    with torch.no_grad():
        ref = model.eval().forward_head(model.forward_features(images), pre_logits=True)
    np.testing.assert_allclose(feats, ref.numpy(), rtol=1e-5, atol=1e-6)
    xy = embedding(model, images, method="pca")
    # reference PCA: eigenvectors of the covariance matrix, largest eigenvalues first
    centred = feats.astype(np.float64) - feats.mean(0)
    vals, vecs = np.linalg.eigh(np.cov(centred, rowvar=False))
    ref_xy = centred @ vecs[:, ::-1][:, :2]
    for k in range(2):
        assert abs(abs(np.corrcoef(xy[:, k], ref_xy[:, k])[0, 1]) - 1) < 1e-6
    assert xy[:, 0].var() >= xy[:, 1].var()


def test_tsne_runs_and_says_what_to_install_when_missing(monkeypatch):
    feats = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    from cnnlab.viz.embedding import project

    pytest.importorskip("sklearn")
    xy = project(feats, "tsne", seed=0, perplexity=5)
    assert xy.shape == (30, 2) and np.isfinite(xy).all()
    real_import = builtins.__import__

    def no_sklearn(name, *a, **k):
        if name.startswith("sklearn"):
            raise ImportError("no sklearn")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    with pytest.raises(CnnlabError, match=r"cnnlab\[viz\]"):
        project(feats, "tsne")
    assert pca_2d(feats).shape == (30, 2)  # PCA needs nothing extra


def test_receptive_field_of_a_conv_stack_by_hand():
    # 3x3 s1 -> 3x3 s2 -> 3x3 s1 (padding 1): r = 3, 5, 9; jump 1, 2, 2; first centre at pixel 0
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, 1, 1), nn.Conv2d(2, 2, 3, 2, 1), nn.Conv2d(2, 2, 3, 1, 1), nn.Flatten(), nn.LazyLinear(2)
    )
    with torch.no_grad():
        for m in list(net)[:3]:
            m.weight.uniform_(0.1, 1.0)  # all positive: the gradient is non-zero over the whole field
    x = torch.randn(1, 1, 20, 20)
    net(x)  # materialise the lazy layer
    before = model_state(net)
    view = receptive_field(net, x, "2", position=(4, 6))
    assert model_state(net) == before
    assert view.size == (9, 9) and view.jump == (2, 2) and view.output_size == (10, 10)
    top, left, bottom, right = view.box
    assert (top, left, bottom, right) == (8 + 0.5 - 4.5, 12 + 0.5 - 4.5, 8 + 0.5 + 4.5, 12 + 0.5 + 4.5)
    rows, cols = np.nonzero(view.effective)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (4, 13, 8, 17)  # exactly the box
    assert view.effective.max() == pytest.approx(1.0)
    with pytest.raises(CnnlabError, match="whole input"):
        receptive_field(net, x, "4")


def test_load_image_inverts_greyscale_strokes_but_never_rgb_photos(tmp_path):
    from PIL import Image

    from cnnlab.viz import display_image, load_image

    Image.fromarray(np.full((8, 8, 3), 230, np.uint8)).save(tmp_path / "sky.png")
    meta = {"input_size": [3, 8, 8], "mean": [0.5] * 3, "std": [0.25] * 3, "background": "dark"}
    x, notes = load_image(tmp_path / "sky.png", meta)
    assert not any("inverted" in n for n in notes)
    np.testing.assert_allclose(x.numpy(), (230 / 255 - 0.5) / 0.25, rtol=1e-6)
    np.testing.assert_allclose(display_image(x, meta), 230 / 255, rtol=1e-6)  # normalisation undone
    grey = {**meta, "input_size": [1, 8, 8], "mean": [0.5], "std": [0.25]}
    _, notes = load_image(tmp_path / "sky.png", grey)
    assert any("inverted" in n for n in notes)
