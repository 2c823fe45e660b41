"""feature_maps and gradcam: against hooks and formulas written here, on networks with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.viz import model_state, region_net

import cnnlab
from cnnlab.errors import CnnlabError
from cnnlab.viz import CAM_METHODS, feature_maps, gradcam


def _hook_outputs(model, x, names):
    """Independent capture: plain forward hooks that copy each output."""
    got, handles = {}, []
    modules = dict(model.named_modules())
    for n in names:
        handles.append(modules[n].register_forward_hook(lambda m, a, o, n=n: got.__setitem__(n, o.detach().clone())))
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    return got


def test_feature_maps_equal_forward_hooks_resnet18():
    torch.manual_seed(0)
    model = cnnlab.create_model("resnet18", num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    names = ["conv1", "bn1", "layer1.0.conv2", "layer2", "layer4"]
    maps = feature_maps(model, x, names)
    ref = _hook_outputs(model, x, names)
    assert list(maps) == names
    for n in names:
        assert maps[n].dtype == np.float32
        np.testing.assert_array_equal(maps[n], ref[n][0].numpy())
    # bn1 is followed by an in-place ReLU: the map is bn1's own output, negatives included
    assert maps["bn1"].min() < 0
    assert maps["layer4"].shape == (512, 2, 2)


def test_feature_maps_default_is_the_stages():
    torch.manual_seed(0)
    model = cnnlab.create_model("lenet5").eval()
    x = torch.randn(1, 1, 28, 28)
    maps = feature_maps(model, x)
    assert list(maps) == ["features.s2", "features.s4", "features.c5_act"]
    assert [m.shape for m in maps.values()] == [(6, 14, 14), (16, 5, 5), (120, 1, 1)]
    ref = _hook_outputs(model, x, list(maps))
    for n, m in maps.items():
        np.testing.assert_array_equal(m, ref[n][0].numpy())


def test_feature_maps_vit_tokens_on_the_patch_grid():
    torch.manual_seed(0)
    model = cnnlab.create_model("vit_ti_4_32", num_classes=10).eval()
    x = torch.randn(1, 3, 32, 24)  # 8 x 6 patches of 4 x 4
    name = "encoder.layers.encoder_layer_0"
    maps = feature_maps(model, x, [name])
    tokens = _hook_outputs(model, x, [name])[name][0]  # (1 + 48) x D
    assert tokens.shape[0] == 1 + 48
    grid = tokens[1:].T.reshape(tokens.shape[1], 8, 6)  # row-major patches, class token dropped
    np.testing.assert_array_equal(maps[name], grid.numpy())


def test_feature_maps_unknown_layer_names_the_closest():
    model = cnnlab.create_model("lenet5")
    with pytest.raises(CnnlabError, match="features.s2"):
        feature_maps(model, torch.zeros(1, 1, 28, 28), ["features.s"])


@pytest.mark.parametrize("method", CAM_METHODS)
def test_cam_of_a_network_that_sees_only_the_left_half(method):
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16] = 1
    net = region_net(mask)
    torch.manual_seed(1)
    x = torch.rand(1, 1, 32, 32) + 0.5
    before = model_state(net)
    cam = gradcam(net, x, target=0, layer="4", method=method)
    assert model_state(net) == before
    assert cam.shape == (32, 32) and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0
    # two 3x3 convolutions reach 2 columns past the mask's edge; nothing lies beyond
    assert cam[:, 18:].max() < 1e-6
    assert cam[:, :16].sum() / cam.sum() > 0.9


def test_gradcam_resnet18_equals_the_formula():
    torch.manual_seed(0)
    model = cnnlab.create_model("resnet18", num_classes=10).eval()
    x = torch.randn(1, 3, 96, 80)
    before = model_state(model)
    got = gradcam(model, x)  # default layer: layer4, predicted class
    assert model_state(model) == before
    # independent Grad-CAM: A = layer4's output, alpha_k = mean_ij dy_c/dA_k, ReLU(sum_k alpha_k A_k), upsampled
    a = model.forward_features(x).detach().requires_grad_(True)
    logits = model.forward_head(a)
    c = int(logits.argmax())
    (g,) = torch.autograd.grad(logits[0, c], a)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(96, 80), mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max()
    np.testing.assert_allclose(got, cam.numpy(), atol=1e-5)
    # another class gives another map (the target is honoured)
    other = gradcam(model, x, target=(c + 1) % 10)
    assert np.abs(other - got).max() > 1e-3


def test_gradcam_leaves_training_mode_frozen_params_and_no_grad_context_alone():
    torch.manual_seed(0)
    model = cnnlab.create_model("resnet18", num_classes=4).train()
    for p in model.layer1.parameters():
        p.requires_grad_(False)
    before = model_state(model)
    bn_stats = model.bn1.running_mean.clone()
    with torch.no_grad():  # a caller inside no_grad still gets a map
        cam = gradcam(model, torch.randn(1, 3, 64, 64))
    assert cam.max() == pytest.approx(1.0)
    assert model_state(model) == before
    assert torch.equal(model.bn1.running_mean, bn_stats)  # ran in eval mode: statistics untouched


def test_gradcam_vit_default_layer_reads_the_patch_grid():
    torch.manual_seed(0)
    model = cnnlab.create_model("vit_ti_4_32", num_classes=10)
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision's init zeroes the head: no gradient
    before = model_state(model)
    cam = gradcam(model, torch.randn(1, 3, 32, 32))
    assert model_state(model) == before
    assert cam.shape == (32, 32) and cam.max() == pytest.approx(1.0)
    # the map varies over the image (a constant map would mean the class token was read)
    assert cam.std() > 0.01
    # the default layer is the input of the last attention, every time (found by tensor identity)
    from cnnlab.viz.hooks import default_cam_layer

    x = torch.randn(1, 3, 32, 32)
    assert {default_cam_layer(model, x) for _ in range(3)} == {"encoder.layers.encoder_layer_11.ln_1"}


def test_gradcam_errors():
    model = cnnlab.create_model("lenet5")
    x = torch.zeros(1, 1, 28, 28)
    with pytest.raises(CnnlabError, match="unknown CAM method"):
        gradcam(model, x, method="cam")
    with pytest.raises(CnnlabError, match="out of range"):
        gradcam(model, x, target=10)
    with pytest.raises(CnnlabError, match="one image"):
        gradcam(model, torch.zeros(2, 1, 28, 28))
