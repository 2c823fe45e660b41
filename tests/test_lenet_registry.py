"""LeNet-5's exact shapes and parameter count, and the registry's behaviour."""

from __future__ import annotations

import pytest
import torch

import cnnlab
from cnnlab.errors import CnnlabError, UnknownNameError
from cnnlab.models import create_model, list_models, model_card


def test_lenet5_parameter_count_matches_the_layer_table():
    m = create_model("lenet5")
    per_layer = {
        name: sum(p.numel() for p in mod.parameters())
        for name, mod in list(m.features.named_children()) + list(m.head.named_children())
        if any(True for _ in mod.parameters())
    }
    # C1: 6*(1*25)+6; C3 (full): 16*(6*25)+16; C5: 120*(16*25)+120; F6: 84*120+84
    assert per_layer == {"c1": 156, "c3": 2_416, "c5": 48_120, "f6": 10_164}
    assert sum(p.numel() for p in m.output.parameters()) == 850  # 10*84+10
    assert sum(p.numel() for p in m.parameters()) == 61_706


def test_lenet5_shapes_follow_the_slide():
    m = create_model("lenet5").eval()
    x = torch.zeros(2, 1, 28, 28)
    shapes = []
    for name, layer in m.features.named_children():
        x = layer(x)
        shapes.append((name, tuple(x.shape[1:])))
    assert dict(shapes)["c1"] == (6, 28, 28)  # 28 padded by 2 = 32, minus 4
    assert dict(shapes)["s2"] == (6, 14, 14)
    assert dict(shapes)["c3"] == (16, 10, 10)
    assert dict(shapes)["s4"] == (16, 5, 5)
    assert dict(shapes)["c5"] == (120, 1, 1)
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_lenet5_defaults_and_modern_variant():
    m = create_model("lenet5")
    assert isinstance(m.features.c1_act, torch.nn.Tanh) and isinstance(m.features.s2, torch.nn.AvgPool2d)
    m = create_model("lenet5", activation="relu", pool="max")
    assert isinstance(m.features.c1_act, torch.nn.ReLU) and isinstance(m.features.s2, torch.nn.MaxPool2d)
    assert sum(p.numel() for p in m.parameters()) == 61_706
    with pytest.raises(CnnlabError, match="unknown pool"):
        create_model("lenet5", pool="median")
    with pytest.raises(UnknownNameError, match="activation"):
        create_model("lenet5", activation="rleu")


def test_lenet5_contract():
    m = create_model("lenet5", num_classes=7, in_chans=3)
    x = torch.randn(2, 3, 28, 28)
    f = m.forward_features(x)
    assert f.shape == (2, 120, 1, 1)
    assert m.forward_head(f, pre_logits=True).shape == (2, 84)
    assert torch.equal(m.forward_head(f), m(x))
    m.reset_classifier(4)
    assert m(x).shape == (2, 4) and m.num_classes == 4
    with pytest.raises(CnnlabError, match="28x28"):
        m(torch.randn(1, 3, 32, 32))


def test_list_models_wildcards_and_card():
    assert "lenet5" in list_models()
    assert list_models("lenet*")[0] == "lenet5"
    assert list_models("zzz*") == []
    card = model_card("lenet5")
    assert card.params == 61_706 and card.year == 1998 and card.input_size == (1, 28, 28)


def test_unknown_model_names_the_closest_matches():
    with pytest.raises(UnknownNameError) as e:
        cnnlab.create_model("lenet")
    assert "lenet5" in e.value.suggestions
    assert "cnnlab models" in str(e.value)


def test_unknown_builder_option_is_a_user_error():
    with pytest.raises(CnnlabError, match="unexpected keyword"):
        create_model("lenet5", widht=2)
