"""Every visualisation runs on one network of every family file in src/cnnlab/models/ (small
inputs, random weights) and leaves the model exactly as it was: no hooks, same modes, same
requires_grad flags, no .grad."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cnnlab
from cnnlab.models.base import min_input_size
from cnnlab.viz import (
    CAM_METHODS,
    SALIENCY_METHODS,
    feature_maps,
    first_layer_filters,
    gradcam,
    occlusion,
    penultimate_features,
    receptive_field,
    saliency,
)
from cnnlab.viz.filters import conv_layer

from helpers.viz import model_state

FAST = ["lenet5", "cifar_convnet4"]
# one representative per family file (the smallest or most typical network of the file). Score-CAM's
# one forward per channel and the analyzer dominate: NFNet-F0 (3072 channels) takes minutes
SLOW = [
    "resnet20",
    "vit_ti_4_28",
    "airbench",
    "alexnet",
    "densenet121",
    "nfnet_f0",
    "efficientnet_b0",
    "googlenet",
    "inception_resnet_v2",
    "inception_v3",
    "mcunet",
    "mobilenet_v3_small",
    "nin",
    "preact_resnet18",
    "resnet18",
    "shufflenet_v2_x0_5",
    "shufflenet_v1",
    "vgg11_bn",
    "bn_inception",
]
# linear / mlp have no convolution or spatial layer: their picture is `cnnlab viz templates`
NOT_SPATIAL = {"cnnlab.models.linear"}


def _input(name: str, model) -> torch.Tensor:
    c, h, w = cnnlab.model_card(name).input_size
    side = h if h <= 64 else max(64, min_input_size(model) or 64)
    return torch.randn(1, c, side, side)


def run_everything(name: str) -> None:
    torch.manual_seed(0)
    model = cnnlab.create_model(name, num_classes=3)
    for p in model.parameters():  # torchvision-style zero heads give zero gradients: a non-trivial head
        if p.dim() == 2 and p.shape[0] == 3:
            torch.nn.init.normal_(p, std=0.05)
    x = _input(name, model)
    before = model_state(model)
    hw = tuple(x.shape[-2:])
    maps = feature_maps(model, x)
    assert maps and all(m.ndim == 3 and np.isfinite(m).all() for m in maps.values())
    for method in CAM_METHODS:
        cam = gradcam(model, x, target=1, method=method, batch=256)
        assert cam.shape == hw and cam.dtype == np.float32 and 0 <= cam.min() and cam.max() <= 1 + 1e-6, method
    for method in SALIENCY_METHODS:
        s = saliency(model, x, target=1, method=method, samples=3, steps=4)
        assert s.shape == hw and np.isfinite(s).all() and s.max() == pytest.approx(1.0), method
    occ = occlusion(model, x, target=1, patch=hw[0] // 2, stride=hw[0] // 2)
    assert occ.shape == hw and ((occ >= 0) & (occ <= 1)).all()
    k = first_layer_filters(model)
    assert k.ndim == 4
    assert penultimate_features(model, x.repeat(2, 1, 1, 1)).shape[0] == 2
    view = receptive_field(model, x, conv_layer(model)[0])
    assert view.effective.shape == hw and view.effective.max() == pytest.approx(1.0)
    assert model_state(model) == before, name


@pytest.mark.parametrize("name", FAST)
def test_every_method_on_small_models(name):
    run_everything(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_every_method_on_every_family(name):
    run_everything(name)


def test_the_slow_list_covers_every_family_file():
    from cnnlab.models.registry import get_entry

    files = {get_entry(n).builder.__module__ for n in cnnlab.list_models() if get_entry(n).card.task == "classify"}
    covered = {get_entry(n).builder.__module__ for n in FAST + SLOW}
    assert covered == files - NOT_SPATIAL
