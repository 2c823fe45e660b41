"""Every card of the efficient/modern families states multiply-adds that our own count at the card's
input size reproduces (within 2%: papers count slightly different sets of operations, e.g.
MobileNetV3 adds squeeze-excite and hard-swish, ShuffleNet leaves out the FC layer)."""

from __future__ import annotations

import pytest

from cnnlab import create_model, list_models, model_card

from helpers.efficient_counting import macs, meta

FAMILIES = {"MobileNet", "ShuffleNet", "MCUNet", "EfficientNet", "EfficientNetV2", "ViT"}
NAMES = [n for n in list_models() if model_card(n).family in FAMILIES]


def test_all_families_registered():
    assert {model_card(n).family for n in NAMES} == FAMILIES
    assert len(NAMES) == 41  # MobileNet 7, ShuffleNet 8, MCUNet 6, EfficientNet 1 + 8 + 3, ViT 8


@pytest.mark.parametrize("name", NAMES)
def test_card_macs_match_our_count(name):
    card = model_card(name)
    chans, side = card.input_size[0], card.input_size[-1]
    got = macs(meta(create_model, name), side, chans)
    assert abs(got - card.macs) / card.macs < 0.02, f"{name}: counted {got:,} MACs, the card says {card.macs:,}"


SCRIPTED = [
    "mobilenet_v1_x0_25",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "shufflenet_v1",
    "shufflenet_v2_x0_5",
    "mcunet_10fps",
    "vit_ti_4_32",
]


@pytest.mark.parametrize("name", SCRIPTED)
def test_torchscript_matches_eager(name):
    """One network per family compiles with TorchScript (the ViT also at another input size, which
    takes the position-embedding interpolation path) and gives the eager outputs."""
    import torch

    torch.manual_seed(0)
    model = create_model(name, num_classes=5).eval()
    scripted = torch.jit.script(model)
    side = 48 if name.startswith("vit") else 64
    x = torch.randn(2, model.in_chans, side, side)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5, rtol=1e-4)
