"""The CIFAR-10 ResNets of He et al. 2015, section 4.2 (resnet20..110) and their plain twins."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cnnlab import CnnlabError, create_model, model_card
from cnnlab.models.cifar_resnet import CifarResNet
from cnnlab.nn.residual import BasicBlock, ZeroPadShortcut

from helpers.zoo_b_helpers import count_macs, meta_input, meta_model, n_params

# Section 4.2 / Table 6: depth -> parameters as the paper prints them
PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}


def cifar_params(n: int, classes: int = 10) -> int:
    """The count by hand: 3x3 convolutions without bias, 2 BN parameters per channel, option A shortcuts."""
    conv1 = 3 * 16 * 9 + 2 * 16
    stage1 = 2 * n * (16 * 16 * 9 + 2 * 16)
    stage2 = 16 * 32 * 9 + (2 * n - 1) * 32 * 32 * 9 + 2 * n * 2 * 32
    stage3 = 32 * 64 * 9 + (2 * n - 1) * 64 * 64 * 9 + 2 * n * 2 * 64
    return conv1 + stage1 + stage2 + stage3 + 64 * classes + classes


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_parameter_counts_exact_and_as_the_paper_rounds_them(depth):
    n = (depth - 2) // 6
    exact = cifar_params(n)
    for name in (f"resnet{depth}", f"plain{depth}"):
        model = meta_model(name)
        assert n_params(model) == exact
        assert model_card(name).params == PAPER_PARAMS[depth]  # the card quotes the paper's rounded figure
    digits = 2 if depth < 100 else 1  # 0.27M ... 0.85M, 1.7M
    assert math.isclose(round(exact / 1e6, digits), PAPER_PARAMS[depth] / 1e6)
    assert {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}[depth] == exact


def test_structure_is_the_section_4_2_table():
    model = meta_model("resnet20")
    # 6n + 2 weighted layers: conv1, 3 stages x n blocks x 2 convs, fc
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == 20
    assert [i["channels"] for i in model.feature_info] == [16, 32, 64]
    shapes = {}
    for name in ("layer1", "layer2", "layer3"):
        getattr(model, name).register_forward_hook(lambda _m, _i, o, k=name: shapes.__setitem__(k, tuple(o.shape)))
    model(meta_input(3, 32))
    assert shapes == {"layer1": (1, 16, 32, 32), "layer2": (1, 32, 16, 16), "layer3": (1, 64, 8, 8)}
    # option A everywhere: the two width changes are parameter-free zero-padding shortcuts
    shortcuts = [b.downsample for b in model.modules() if isinstance(b, BasicBlock) and b.downsample is not None]
    assert len(shortcuts) == 2 and all(isinstance(s, ZeroPadShortcut) for s in shortcuts)
    assert model_card("resnet20").macs == count_macs(model, meta_input(3, 32)) == 40_551_040


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_plain_twin_differs_only_in_the_shortcut(depth):
    res, plain = meta_model(f"resnet{depth}"), meta_model(f"plain{depth}")
    assert [(k, v.shape) for k, v in res.state_dict().items()] == [(k, v.shape) for k, v in plain.state_dict().items()]
    blocks = list(
        zip(
            (m for m in res.modules() if isinstance(m, BasicBlock)),
            (m for m in plain.modules() if isinstance(m, BasicBlock)),
        )
    )
    assert len(blocks) == 3 * (depth - 2) // 6
    assert all(r.residual and not p.residual and p.downsample is None for r, p in blocks)
    x = meta_input(3, 32)
    assert count_macs(res, x) == count_macs(plain, x)


def test_plain_and_residual_outputs_with_the_same_weights():
    torch.manual_seed(0)
    res = create_model("resnet20").eval()
    plain = create_model("plain20").eval()
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (res(x) - plain(x)).abs().max() > 1e-3
        for b in (m for m in res.modules() if isinstance(m, BasicBlock)):
            b.zero_init_last()  # zero residual branches: the ResNet reduces to its shortcuts
        feats = res.forward_features(x)
        stem = torch.relu(res.bn1(res.conv1(x)))
        expected = F.pad(stem[:, :, ::4, ::4], (0, 0, 0, 0, 0, 48))
    assert torch.allclose(feats, expected)


def test_projection_option_and_bad_depth():
    assert n_params(CifarResNet(20, shortcut="B")) == 269_722 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    with pytest.raises(CnnlabError, match="6n\\+2"):
        CifarResNet(21)


def test_one_training_step_sequence_lowers_the_loss():
    """A few SGD steps of resnet20 on one fixed random batch decrease the cross-entropy."""
    torch.manual_seed(0)
    model = create_model("resnet20").train()
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
