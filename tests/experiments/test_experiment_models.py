"""The models the experiments swap parts of: counts by hand, and defaults that leave the zoo unchanged."""

from __future__ import annotations

import pytest
import torch

from cnnlab import CnnlabError, create_model
from cnnlab.models.cifar_vgg import CIFAR_VGG_CONFIGS


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_cifar_vgg11_count_by_hand():
    # widths 16, 32, 64, 64, 128, 128, 128, 128 (A at 1/4); conv 9*cin*cout + cout, BN 2*cout; head 128-256-256-10
    widths = [16, 32, 64, 64, 128, 128, 128, 128]
    total, cin = 0, 3
    for w in widths:
        total += 9 * cin * w + w + 2 * w
        cin = w
    total += 129 * 256 + 257 * 256 + 257 * 10
    assert n_params(create_model("cifar_vgg11")) == total
    # without batch norm: 2 x channels fewer per conv
    assert n_params(create_model("cifar_vgg11", batch_norm=False)) == total - 2 * sum(widths)


@pytest.mark.parametrize("kw", [dict(activation="tanh"), dict(pool="avg"), dict(drop_rate=0.0)])
def test_swaps_keep_parameters_and_keys(kw):
    base = create_model("cifar_vgg16")
    other = create_model("cifar_vgg16", **kw)
    assert list(base.state_dict()) == list(other.state_dict())
    assert [t.shape for t in base.state_dict().values()] == [t.shape for t in other.state_dict().values()]


def test_swaps_change_the_function():
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(0)
    relu = create_model("cifar_convnet4").eval()
    tanh = create_model("cifar_convnet4", activation="tanh").eval()
    tanh.load_state_dict(relu.state_dict())
    assert isinstance(tanh.features[1], torch.nn.Tanh)
    assert not torch.allclose(relu(x), tanh(x))
    avg = create_model("cifar_vgg11", pool="avg")
    assert all(isinstance(m, torch.nn.AvgPool2d) for m in avg.features if "Pool" in type(m).__name__)
    assert len([c for c in CIFAR_VGG_CONFIGS["E"] if c != "M"]) == 16  # + 3 linear = VGG-19


def test_cifar_vgg_rejects_unknown_parts():
    with pytest.raises(CnnlabError, match="pool"):
        create_model("cifar_vgg11", pool="median")


def test_bottleneck_cifar_resnet_same_blocks_same_cost():
    basic = create_model("resnet56")
    bottle = create_model("resnet56", block="bottleneck")
    assert basic.depth == 56 and bottle.depth == 83  # 9 blocks per stage, 3 layers per block
    assert sum(len(getattr(bottle, f"layer{i}")) for i in (1, 2, 3)) == 27

    # option-A shortcuts: parameters are the convs' and BNs'; per block at width w (in 4w, out 4w):
    # 1x1 4w*w + 3x3 9w^2 + 1x1 w*4w + BN 2(w + w + 4w); the first block of stage 1 reads 16 channels
    def block(cin, w):
        return cin * w + 9 * w * w + w * 4 * w + 2 * (w + w + 4 * w)

    expected = 3 * 9 * 16 + 2 * 16  # stem conv + BN
    cin = 16
    for w in (16, 32, 64):
        expected += block(cin, w) + 8 * block(4 * w, w)
        cin = 4 * w
    expected += 256 * 10 + 10
    assert n_params(bottle) == expected
    assert n_params(basic) == 853_018  # default unchanged (He et al. Table 6: 0.85M)
    assert list(create_model("resnet20").state_dict()) == list(create_model("resnet20", block="basic").state_dict())
    with pytest.raises(CnnlabError, match="block"):
        create_model("resnet20", block="wide")
