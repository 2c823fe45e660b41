"""Every card of the efficient/modern families states multiply-adds that our own count at the card's
input size reproduces (within 2%: papers count slightly different sets of operations, e.g.
MobileNetV3 adds squeeze-excite and hard-swish, ShuffleNet leaves out the FC layer)."""

from __future__ import annotations

import pytest
from efficient_counting import macs, meta

from cnnlab import create_model, list_models, model_card

FAMILIES = {"MobileNet", "ShuffleNet", "MCUNet", "EfficientNet", "EfficientNetV2", "ViT"}
NAMES = [n for n in list_models() if model_card(n).family in FAMILIES]


def test_all_families_registered():
    assert {model_card(n).family for n in NAMES} == FAMILIES
    assert len(NAMES) == 36  # MobileNet 7, ShuffleNet 5, MCUNet 6, EfficientNet 8 + 3, ViT 7


@pytest.mark.parametrize("name", NAMES)
def test_card_macs_match_our_count(name):
    card = model_card(name)
    chans, side = card.input_size[0], card.input_size[-1]
    got = macs(meta(create_model, name), side, chans)
    assert abs(got - card.macs) / card.macs < 0.02, f"{name}: counted {got:,} MACs, the card says {card.macs:,}"
