"""DenseNet-BC (Huang et al. 2017, Table 1): structure, legacy torchvision keys, minimum input size.

Keys, shapes, counts and outputs against torchvision: test_torchvision_conformance.py.
"""

from __future__ import annotations

import pytest
import torch

from cnnlab import CnnlabError, create_model, model_card
from cnnlab.models.densenet import DENSENET, DenseNet

from helpers.zoo_b_helpers import count_macs, meta_input, meta_model


@pytest.mark.parametrize("name", sorted(DENSENET))
def test_channels_follow_growth_and_compression(name):
    """Each block adds k maps per layer; each transition halves them (theta = 0.5)."""
    k, blocks, init = DENSENET[name]
    model = meta_model(name)
    ch, expected = init, []
    for i, n in enumerate(blocks):
        ch += n * k
        expected.append(ch)
        if i < len(blocks) - 1:
            ch //= 2
    assert [i["channels"] for i in model.feature_info] == expected
    assert [i["reduction"] for i in model.feature_info] == [4, 8, 16, 32]
    assert model.classifier.in_features == expected[-1]
    # layer count of the name: 2 convs per dense layer + conv0 + 3 transitions + classifier
    assert 2 * sum(blocks) + 1 + 3 + 1 == int(name[len("densenet") :])


def test_densenet121_block_widths_and_cost():
    model = meta_model("densenet121")
    assert [i["channels"] for i in model.feature_info] == [256, 512, 1024, 1024]
    layer = model.features.denseblock4.denselayer16
    assert (layer.conv1.in_channels, layer.conv1.out_channels, layer.conv2.out_channels) == (992, 128, 32)
    # torchvision documents 2.83 GFLOPS (multiply-adds) at 224x224
    assert round(count_macs(model, meta_input(3, 224)) / 1e9, 2) == 2.83 == model_card("densenet121").macs / 1e9


def test_minimum_input_size_is_29():
    """The third transition must still see a 2x2 map: 29 -> 15 -> 8 -> 4 -> 2 -> 1 (torchvision: min_size 29)."""
    model = meta_model("densenet121", num_classes=4)
    assert model(meta_input(3, 29)).shape == (1, 4)
    with pytest.raises(CnnlabError, match="at least 29x29"):
        model(meta_input(3, 28))


def test_old_torchvision_weight_keys_load_strictly():
    torch.manual_seed(0)
    model = DenseNet(8, (2, 2), 16, num_classes=3).eval()
    legacy = {}
    for key, value in model.state_dict().items():
        for new, old in (("norm1", "norm.1"), ("norm2", "norm.2"), ("conv1", "conv.1"), ("conv2", "conv.2")):
            if ".denselayer" in key:
                key = key.replace(f".{new}.", f".{old}.")
        legacy[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    fresh = DenseNet(8, (2, 2), 16, num_classes=3).eval()
    fresh.load_state_dict(legacy, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_per_layer_dropout_option_is_the_papers_and_head_dropout_is_separate():
    model = create_model("densenet121", dense_drop_rate=0.2, drop_rate=0.1)
    assert model.features.denseblock1.denselayer1.drop_rate == 0.2 and model.drop_rate == 0.1


def test_load_weights_reads_torchvision_hosted_file_layout(tmp_path):
    """``densenet121-a639ec97.pth`` as torchvision hosts it (old dotted keys) loads through load_weights."""
    from cnnlab.nn.dense import rename_legacy_keys

    torch.manual_seed(0)
    src = create_model("densenet121")
    hosted = {}
    for key, value in src.state_dict().items():
        for new, old in (("norm1", "norm.1"), ("norm2", "norm.2"), ("conv1", "conv.1"), ("conv2", "conv.2")):
            if ".denselayer" in key:
                key = key.replace(f".{new}.", f".{old}.")
        hosted[key] = value
    assert rename_legacy_keys(hosted).keys() == src.state_dict().keys()
    path = tmp_path / "densenet121-a639ec97.pth"
    torch.save(hosted, path)
    model = create_model("densenet121", weights=str(path))
    for key, value in src.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_dense_block_is_the_concatenation_series():
    """Lecture 001: x_1 = x, x_2 = [x, f_1(x)], x_3 = [x, f_1(x), f_2([x, f_1(x)])] (the lecture labels the
    third line x_2 again: a typo). Lecture 004: L layers have L(L+1)/2 direct connections."""
    from cnnlab.nn.dense import DenseBlock

    torch.manual_seed(0)
    block = DenseBlock(2, 6, growth_rate=3).eval()
    f1, f2 = block["denselayer1"], block["denselayer2"]
    x = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        x2 = torch.cat([x, f1(x)], 1)
        x3 = torch.cat([x, f1(x), f2(x2)], 1)
        assert torch.equal(block(x), x3)
    # connections: layer l reads the block input and the l-1 earlier layers (+ its output onward)
    big = DenseBlock(5, 4, growth_rate=2)
    inputs = [layer.norm1.num_features for layer in big.values()]
    assert [(c - 4) // 2 + 1 for c in inputs] == [1, 2, 3, 4, 5]
    assert sum((c - 4) // 2 + 1 for c in inputs) == 5 * 6 // 2


def test_memory_efficient_gives_the_same_outputs_and_gradients():
    """Checkpointing the concatenation + bottleneck changes memory, not the function or its gradients."""
    torch.manual_seed(0)
    a = DenseNet(8, (3, 2), 16, num_classes=4).train()
    b = DenseNet(8, (3, 2), 16, num_classes=4, memory_efficient=True).train()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    ya, yb = a(x), b(x)
    assert torch.allclose(ya, yb, atol=1e-6)
    ya.square().sum().backward()
    yb.square().sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-5, rtol=1e-4), name
    assert torch.jit.script(b.eval())(x.detach()).shape == (2, 4)
