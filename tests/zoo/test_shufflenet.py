"""ShuffleNet v1 against Zhang et al. 2018 (Tables 1, 2, 5) and the channel shuffle itself."""

from __future__ import annotations

import pytest
import torch
from helpers.efficient_counting import macs, meta
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab import CnnlabError, create_model
from cnnlab.models.shufflenet import (
    SHUFFLENET_V1_CHANNELS,
    SHUFFLENET_V1_MFLOPS,
    SHUFFLENET_V1_TABLE1_MFLOPS,
    SHUFFLENET_V2_CHANNELS,
    ShuffleNetV1,
    ShuffleNetV2,
    shufflenet_v1_channels,
)
from cnnlab.nn.shuffle import ChannelShuffle, ShuffleV1Unit, channel_shuffle

GROUPS = sorted(SHUFFLENET_V1_CHANNELS)


@pytest.mark.parametrize("groups", GROUPS)
def test_table1_complexity_per_group_count(groups):
    """Table 1, last row: 143M, 140M, 137M, 133M, 137M for g = 1, 2, 3, 4, 8. Our counts without
    the FC layer are 142.50, 140.04, 136.50, 133.25, 136.83M: they round (half up) to the table, so
    Table 1 leaves out the FC layer's 0.6-1.5M."""
    model = meta(ShuffleNetV1, groups=groups)
    assert int(macs(model, 224, exclude_classifier=True) / 1e6 + 0.5) == SHUFFLENET_V1_TABLE1_MFLOPS[groups]


@pytest.mark.parametrize("scale", [0.5, 1.5, 2.0, 0.25])
def test_scaled_complexity_g3(scale):
    """Tables 2 and 5 (g = 3): 0.25x 13M, 0.5x 38M, 1.5x 292M, 2x 524M. These include the FC layer
    (ours: 13.3, 37.6, 292.4, 524.0M)."""
    model = meta(ShuffleNetV1, groups=3, scale=scale)
    assert round(macs(model, 224) / 1e6) == SHUFFLENET_V1_MFLOPS[scale]


@pytest.mark.parametrize("scale", [0.25, 0.5, 1.0])
@pytest.mark.parametrize("groups", GROUPS)
def test_table2_complexity_is_about_equal_for_every_g(scale, groups):
    """Table 2 gives one complexity per row for all g (the widths in Table 1 are chosen for that):
    every g is within 5% of it (the largest gap: g = 8 at 0.25x, 12.4M vs 13M)."""
    model = meta(ShuffleNetV1, groups=groups, scale=scale)
    paper = SHUFFLENET_V1_MFLOPS[scale]
    assert abs(macs(model, 224) / 1e6 - paper) / paper < 0.05


def test_table1_widths_and_grouping():
    assert shufflenet_v1_channels(3, 1.0) == (24, 240, 480, 960)
    assert shufflenet_v1_channels(8, 1.0) == (24, 384, 768, 1536)
    assert shufflenet_v1_channels(3, 0.5) == (12, 120, 240, 480)
    assert shufflenet_v1_channels(8, 0.5) == (8, 192, 384, 768)  # Conv1 rounded down to a multiple of g
    assert shufflenet_v1_channels(4, 0.5) == (12, 144, 272, 544)  # 136 -> 144 (multiple of 4 g = 16)
    model = meta(ShuffleNetV1, groups=3)
    assert [len(getattr(model, f"stage{i}")) for i in (2, 3, 4)] == [4, 8, 4]
    first = model.stage2[0].branch
    assert first[0].groups == 1  # "we do not apply group convolution on the first pointwise layer"
    assert model.stage2[1].branch[0].groups == 3 and model.stage2[1].branch[-2].groups == 3


def test_unit_stride2_concatenates_pooled_input():
    torch.manual_seed(0)
    unit = ShuffleV1Unit(24, 240, stride=2, groups=3).eval()
    x = torch.randn(1, 24, 8, 8)
    with torch.no_grad():
        y = unit(x)
    assert y.shape == (1, 240, 4, 4)
    # the first 24 channels are ReLU(avgpool3x3/2(x)) (the shortcut path of Fig. 2c)
    pooled = torch.nn.functional.avg_pool2d(x, 3, 2, 1)
    assert torch.allclose(y[:, :24], pooled.relu())


def test_bad_options_are_clear_errors():
    with pytest.raises(CnnlabError, match="groups"):
        create_model("shufflenet_v1", groups=5)
    with pytest.raises(CnnlabError, match="scale"):
        ShuffleNetV2(scale=0.75)


@settings(max_examples=30, deadline=None)
@given(groups=st.integers(1, 6), per_group=st.integers(1, 5), h=st.integers(1, 3))
def test_channel_shuffle_is_the_transpose_permutation(groups, per_group, h):
    """Zhang et al. 2018, Fig. 1: reshape to (g, n), transpose, flatten. Output channel j*g + i is
    input channel i*n + j; shuffling g then n groups restores the input."""
    c = groups * per_group
    x = torch.randn(2, c, h, h)
    y = channel_shuffle(x, groups)
    for i in range(groups):
        for j in range(per_group):
            assert torch.equal(y[:, j * groups + i], x[:, i * per_group + j])
    assert torch.equal(channel_shuffle(y, per_group), x)
    assert torch.equal(ChannelShuffle(groups)(x), y)


def test_channel_shuffle_needs_divisible_channels():
    with pytest.raises(ValueError, match="6 channels"):
        channel_shuffle(torch.zeros(1, 6, 2, 2), 4)


def test_shufflenet_v2_table5_widths():
    """Ma et al. 2018, Table 5: output channels of Stage2-4 and Conv5 per scale."""
    for scale, widths in SHUFFLENET_V2_CHANNELS.items():
        name = f"shufflenet_v2_x{str(scale).replace('.', '_')}"
        model = meta(create_model, name)
        assert [i["channels"] for i in model.feature_info] == list(widths[1:])
