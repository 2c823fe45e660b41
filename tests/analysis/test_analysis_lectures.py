"""The lectures' tables, reproduced by the analyzer and checked number by number.

Expected values are the hand formulas of ../shared/research/analyzer-anchors.md section 4
(H' = floor((H - K + 2P)/S) + 1; mem KB = C'H'W' x 4 / 1024; conv params = C'CK^2 + C'; MACs =
C'H'W' x CK^2; r' = r + (K-1) j, j' = j S). Where lecture 004 prints a different number, the test
says so and asserts the correct one.
"""

from __future__ import annotations

import pytest
import torch.nn as nn

from cnnlab.analysis import summary
from cnnlab.analysis.compare import compare
from cnnlab.analysis.lectures import Inception, alexnet_lecture, googlenet_stem, vgg

from helpers.analysis_nets import resnet

# (layer, output C x H x W, mem KB (1 decimal), params, MACs, RF, jump); RF None = "all"
ALEXNET_P0 = [
    ("conv1", (96, 55, 55), 1134.4, 34_944, 105_415_200, 11, 4),
    ("pool1", (96, 27, 27), 273.4, 0, 0, 19, 8),
    ("conv2", (256, 27, 27), 729.0, 614_656, 447_897_600, 51, 8),
    ("pool2", (256, 13, 13), 169.0, 0, 0, 67, 16),
    ("conv3", (384, 13, 13), 253.5, 885_120, 149_520_384, 99, 16),
    ("conv4", (384, 13, 13), 253.5, 1_327_488, 224_280_576, 131, 16),
    ("conv5", (256, 13, 13), 169.0, 884_992, 149_520_384, 163, 16),
    ("pool5", (256, 6, 6), 36.0, 0, 0, 195, 32),
    ("flatten", (9216,), 36.0, 0, 0, 195, 32),
    ("fc6", (4096,), 16.0, 37_752_832, 37_748_736, None, None),
    ("fc7", (4096,), 16.0, 16_781_312, 16_777_216, None, None),
    ("fc8", (1000,), 3.9, 4_097_000, 4_096_000, None, None),
]

VGG16 = [
    ("conv1_1", (64, 224, 224), 12544.0, 1_792, 86_704_128, 3, 1),
    ("conv1_2", (64, 224, 224), 12544.0, 36_928, 1_849_688_064, 5, 1),
    ("pool1", (64, 112, 112), 3136.0, 0, 0, 6, 2),
    ("conv2_1", (128, 112, 112), 6272.0, 73_856, 924_844_032, 10, 2),
    ("conv2_2", (128, 112, 112), 6272.0, 147_584, 1_849_688_064, 14, 2),
    ("pool2", (128, 56, 56), 1568.0, 0, 0, 16, 4),
    ("conv3_1", (256, 56, 56), 3136.0, 295_168, 924_844_032, 24, 4),
    ("conv3_2", (256, 56, 56), 3136.0, 590_080, 1_849_688_064, 32, 4),
    ("conv3_3", (256, 56, 56), 3136.0, 590_080, 1_849_688_064, 40, 4),
    ("pool3", (256, 28, 28), 784.0, 0, 0, 44, 8),
    ("conv4_1", (512, 28, 28), 1568.0, 1_180_160, 924_844_032, 60, 8),
    ("conv4_2", (512, 28, 28), 1568.0, 2_359_808, 1_849_688_064, 76, 8),
    ("conv4_3", (512, 28, 28), 1568.0, 2_359_808, 1_849_688_064, 92, 8),
    ("pool4", (512, 14, 14), 392.0, 0, 0, 100, 16),
    ("conv5_1", (512, 14, 14), 392.0, 2_359_808, 462_422_016, 132, 16),
    ("conv5_2", (512, 14, 14), 392.0, 2_359_808, 462_422_016, 164, 16),
    ("conv5_3", (512, 14, 14), 392.0, 2_359_808, 462_422_016, 196, 16),
    ("pool5", (512, 7, 7), 98.0, 0, 0, 212, 32),
    ("flatten", (25088,), 98.0, 0, 0, 212, 32),
    ("fc6", (4096,), 16.0, 102_764_544, 102_760_448, None, None),
    ("fc7", (4096,), 16.0, 16_781_312, 16_777_216, None, None),
    ("fc8", (1000,), 3.9, 4_097_000, 4_096_000, None, None),
]

GOOGLENET_STEM = [
    ("conv1", (64, 112, 112), 3136.0, 9_472, 118_013_952, 7, 2),
    ("pool1", (64, 56, 56), 784.0, 0, 0, 11, 4),
    ("conv2", (64, 56, 56), 784.0, 4_160, 12_845_056, 11, 4),
    ("conv3", (192, 56, 56), 2352.0, 110_784, 346_816_512, 19, 4),
    ("pool2", (192, 28, 28), 588.0, 0, 0, 27, 8),
]


def check_rows(s, expected):
    rows = {r.name: r for r in s.layers}
    for name, out, mem_kb, params, macs, rf, jump in expected:
        r = rows[name]
        assert r.output_shape == out, name
        assert round(r.output_kb, 1) == mem_kb, name
        assert r.params == params, name
        assert r.macs == macs, name
        if rf is None:
            assert r.rf.is_global, name
        else:
            assert (r.rf.size, r.rf.jump) == ((rf, rf), (jump, jump)), name


def test_alexnet_227_conv1_pad0_lecture_table():
    s = summary(alexnet_lecture(0), input_size=(3, 227, 227), preset="lecture")
    assert [r.name for r in s.layers] == [row[0] for row in ALEXNET_P0]
    check_rows(s, ALEXNET_P0)
    assert s.params.total == 62_378_344
    assert s.macs == 1_135_256_096
    # the lecture's memory total: conv, pool and fc outputs; the flatten view is not added
    assert round(s.memory.lecture_bytes / 1024, 1) == 3053.7
    assert s.warnings == []
    # the layer table as lecture 004 prints it (k and M rounded): conv1 1134 KB, 35 k, 105 M.
    # Lecture 004 labels this row "P=2", but 55 x 55 / 1134 KB / 105 M are the P=0 numbers.
    conv1 = s.layer("conv1")
    assert (conv1.padding, round(conv1.output_kb), round(conv1.params / 1e3), round(conv1.macs / 1e6)) == (
        (0, 0),
        1134,
        35,
        105,
    )


def test_alexnet_227_conv1_pad2_and_the_floored_row():
    s = summary(alexnet_lecture(2), input_size=(3, 227, 227), preset="lecture")
    conv1 = s.layer("conv1")
    assert conv1.output_shape == (96, 56, 56)
    assert round(conv1.output_kb, 1) == 1176.0 and conv1.macs == 109_283_328
    # pool1 floors 56 -> 27: from there on identical to P=0
    check_rows(s, ALEXNET_P0[1:])
    assert s.macs == 1_139_124_224
    assert round(s.memory.lecture_bytes / 1024, 1) == 3095.3
    # the teacher's warning: pool1 never reads the last row and column of its 56 x 56 input
    assert len(s.warnings) == 1
    w = s.layer("pool1").warnings[0]
    assert "pool1" in w and "56x56" in w and "1 row and 1 column" in w and "(56 + 0 - 3)/2" in w
    # "Johnson's slide: 56, 1176 KB, 35k, 118 MFLOP": 118 M is wrong for 96 filters (109.3 M); his
    # slide uses 64 filters (72.9 M), and 118.0 M is the GoogLeNet stem's conv1.
    assert round(conv1.macs / 1e6, 1) == 109.3


def test_alexnet_torchvision_filter_counts():
    """64/192/384/256/256 (torchvision, Johnson's slide): 61,100,840 params; 716.8 M at 227, 0.714 G at 224."""
    s227 = summary(alexnet_lecture(2, (64, 192, 384, 256, 256)), input_size=(3, 227, 227))
    c1 = s227.layer("conv1")
    assert (c1.output_shape, round(c1.output_kb, 1), c1.params, c1.macs) == ((64, 56, 56), 784.0, 23_296, 72_855_552)
    assert s227.params.total == 61_100_840
    assert s227.macs == 716_767_232
    s224 = summary(alexnet_lecture(2, (64, 192, 384, 256, 256)), input_size=(3, 224, 224))
    assert s224.macs == 714_188_480 and round(s224.macs / 1e9, 3) == 0.714  # torchvision's published 0.714


def test_vgg16_224_table_and_totals():
    s = summary(vgg(16), input_size=(3, 224, 224), preset="lecture")
    assert [r.name for r in s.layers] == [row[0] for row in VGG16]
    check_rows(s, VGG16)
    assert s.params.total == 138_357_544
    assert s.macs == 15_470_264_320  # torchvision's 15.47; lecture 004's "13.6 GFLOPs" leaves out conv3_3
    assert round(s.memory.lecture_bytes / 1024, 1) == 58933.9
    assert round((s.macs - s.layer("conv3_3").macs) / 1e9, 1) == 13.6  # how the lecture's wrong figure arises
    assert round(2 * s.macs / 1e9, 2) == 30.94  # as 2-op FLOPs


def test_googlenet_stem_table():
    s = summary(googlenet_stem(), input_size=(3, 224, 224), preset="lecture")
    check_rows(s, GOOGLENET_STEM)
    assert s.params.total == 124_416
    assert s.macs == 477_675_520
    assert round(s.memory.lecture_bytes / 1024, 1) == 7644.0
    # ceil mode pools: reported, and marked in the table
    assert s.layer("pool1").ceil_mode and any("ceil mode" in w for w in s.warnings)
    # lecture 004 prints "MFLOP: 418": a digit transposition of 481 = 477.7 conv + 3.2 pool ops
    assert s.totals.pool == 1_806_336 + 1_354_752
    assert round((s.macs + s.totals.pool) / 1e6) == 481


def test_googlenet_stem_vs_vgg16_stages_is_one_compare():
    """Lecture 004 compares the GoogLeNet stem with VGG-16 up to 28 x 28: it prints 42.9 MB / 1.1 M /
    7485 MFLOP (5.7x / 8.9x / 17.8x), leaving out conv3_3 and the pools; correct: 51.3 MB / 1.74 M /
    9,335 M and 6.9x / 13.9x / 19.4x."""
    c = compare([googlenet_stem(), vgg(16)], input_size=(3, 224, 224), stages=True)
    g, v = (c.stages[n] for n in c.names)
    g56 = next(st for st in g if st.resolution == (56, 56))
    v56 = next(st for st in v if st.resolution == (56, 56))
    assert g56.output == (28, 28) and v56.output == (28, 28)
    assert (g56.cum_memory_bytes, g56.cum_params, g56.cum_macs) == (7644 * 1024, 124_416, 477_675_520)
    assert (v56.cum_memory_bytes, v56.cum_params) == (52_528 * 1024, 1_735_488)
    assert round(v56.cum_memory_bytes / 1024**2, 1) == 51.3 and round(v56.cum_macs / 1e6, 1) == 9335.1
    ratios = (v56.cum_memory_bytes / g56.cum_memory_bytes, v56.cum_params / g56.cum_params, v56.cum_macs / g56.cum_macs)
    # 19.5x counting multiply-adds only; the anchors' 19.4x adds the pools' 5.6 M / 3.2 M window ops
    assert [round(x, 1) for x in ratios] == [6.9, 13.9, 19.5]
    pools = (v56.cum_macs + 5_619_712) / (g56.cum_macs + 3_161_088)
    assert round(pools, 1) == 19.4
    # the lecture's 7485 M, 1.1 M and 42.9 MB are conv1_1..conv3_2 without the pools
    s = summary(vgg(16), input_size=(3, 224, 224))
    assert sum(s.layer(n).counts.pool for n in ("pool1", "pool2", "pool3")) == 5_619_712  # window ops, as above
    partial = [s.layer(n) for n in ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2")]
    assert round(sum(r.macs for r in partial) / 1e6, 1) == 7485.5
    assert sum(r.params for r in partial) == 1_145_408
    assert sum(r.output_bytes for r in partial) / 1024 == 43_904
    text = str(c)
    assert "56x56 -> 28x28" in text and "19.54x" in text


def test_inception_block_vs_plain_3x3_and_5x5():
    s = summary(Inception(), input_size=(192, 28, 28))
    assert s.output_shape == (256, 28, 28)
    assert s.params.total == 163_328 and s.macs == 128_049_152  # lecture: 0.16 M / 128 M
    s3 = summary(nn.Conv2d(192, 256, 3, padding=1, bias=False), input_size=(192, 28, 28))
    assert s3.params.total == 442_368 and s3.macs == 346_816_512  # lecture: 0.44 M / 346 M (347 rounded)
    s5 = summary(nn.Conv2d(192, 256, 5, padding=2, bias=False), input_size=(192, 28, 28))
    assert s5.params.total == 1_228_800 and s5.macs == 963_379_200
    # lecture 004 prints 1.22 M: 1,228,800 rounds to 1.23 M
    assert round(s5.params.total / 1e6, 2) == 1.23
    # receptive field: the concatenation takes the largest branch (the 5x5)
    assert s.rf.size == (5, 5) and s.rf.jump == (1, 1)


def test_conv_5x5_exercise():
    """Lecture 004: 6 filters 5x5 on 28x28x3 with pad 2: 456 params; it prints 460,800 multiply-adds
    (= 6 x 32 x 32 x 75, a 32 x 32 output); the 28 x 28 output gives 352,800."""
    s = summary(nn.Conv2d(3, 6, 5, padding=2), input_size=(3, 28, 28))
    assert s.params.total == 456
    assert s.output_shape == (6, 28, 28)
    assert s.macs == 352_800
    assert s.macs + s.totals.bias == 357_504  # the bias add counted as one more multiply-add
    assert s.flops == 2 * 352_800 + 4_704  # FLOPs = 2 x MACs + bias adds
    assert summary(nn.Conv2d(3, 6, 5, padding=2), input_size=(3, 32, 32)).macs == 460_800


@pytest.mark.parametrize(
    "blocks, params, gmacs", [((2, 2, 2, 2), 11_689_512, 1.814), ((3, 4, 6, 3), 21_797_672, 3.664)]
)
def test_resnet18_34_totals(blocks, params, gmacs):
    """Lecture 004 prints "GFLOP: 1.8 / 3.6": right as multiply-adds (1.814 / 3.664 G, torchvision's
    figures); as 2-op FLOPs they are 3.63 / 7.33."""
    s = summary(resnet(blocks), input_size=(3, 224, 224))
    assert s.params.total == params
    assert round(s.macs / 1e9, 3) == gmacs
    assert s.uncounted == []
    # residual adds are counted (element-wise), every block's output: no tool in the anchors does this
    assert s.totals.eltwise == sum(r.counts.eltwise for r in s.layers) > 0
    assert round(2 * s.macs / 1e9, 2) == {1.814: 3.63, 3.664: 7.33}[gmacs]


def test_vgg_configs_match_torchvision_figures():
    """VGG-11/13/19 from the paper's Table 1 give torchvision's published GFLOPS (= GMACs) and params."""
    expected = {11: (132_863_336, 7.61), 13: (133_047_848, 11.31), 19: (143_667_240, 19.63)}
    for depth, (params, gmacs) in expected.items():
        s = summary(vgg(depth), input_size=(3, 224, 224))
        assert s.params.total == params, depth
        assert round(s.macs / 1e9, 2) == gmacs, depth


def test_lecture_preset_renders_the_lecture_columns():
    s = summary(alexnet_lecture(0), input_size=(3, 227, 227), preset="lecture")
    text = str(s)
    assert "H'/W'" in text and "params k" in text and "MACs M" in text and "RF (jump)" in text
    conv1 = next(line for line in text.splitlines() if line.startswith("conv1"))
    for cell in ("96", "55", "1,134.4", "34,944", "35", "105,415,200", "105.4"):
        assert cell in conv1.split(), cell
    assert conv1.endswith("11 (4)")
    assert s.convention.startswith("MACs = multiply-adds") and "FLOPs = 2 x MACs" in text
