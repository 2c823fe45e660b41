"""The microcontroller budget, checked against hand counts on a 3-layer network and the MCUNet papers."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch.nn as nn

from cnnlab.analysis.mcu import mcu_budget, parse_budget
from cnnlab.cli import main
from cnnlab.errors import CnnlabError


def three_layers() -> nn.Module:
    """conv 3->8 (3x3, pad 1) + BN + ReLU, depthwise 8 (3x3, pad 1) + BN + ReLU6, mean, linear 8->10."""
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(3, 8, 3, padding=1, bias=False)),
                ("bn1", nn.BatchNorm2d(8)),
                ("act1", nn.ReLU()),
                ("dw", nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)),
                ("bn2", nn.BatchNorm2d(8)),
                ("act2", nn.ReLU6()),
                ("pool", nn.AdaptiveAvgPool2d(1)),
                ("flat", nn.Flatten()),
                ("fc", nn.Linear(8, 10)),
            ]
        )
    )


def test_flash_by_hand():
    b = mcu_budget(three_layers(), input_size=(3, 8, 8), fold_bn=True)
    # int8 weights 8*3*9 + 8*9 + 10*8 = 216 + 72 + 80; per output channel 4 B scale + 4 B bias
    # (folding gives both convolutions a bias): (8 + 8 + 10) * 8
    assert b.flash_weights == 368 and b.flash_biases_scales == 26 * 8 and b.flash_bytes == 576
    assert b.folded == ["bn1", "bn2"]
    kept = mcu_budget(three_layers(), input_size=(3, 8, 8), fold_bn=False)
    # no conv bias, scales only (8 * 4 each), the linear keeps its bias; two norms keep scale+shift (8 * 8)
    assert kept.flash_bytes == 216 + 32 + 72 + 32 + 80 + 80 + 2 * 64 == 640


def test_peak_sram_by_hand():
    # 8x8 int8 planes: input 3*64 = 192, conv1 out 8*64 = 512, dw out 512
    b = mcu_budget(three_layers(), input_size=(3, 8, 8), fold_bn=True)
    assert b.peak_sram_bytes == 512 + 512  # the depthwise conv reads conv1's output and writes its own
    assert b.peak_at.startswith("dw")
    inplace = mcu_budget(three_layers(), input_size=(3, 8, 8), fold_bn=True, inplace_depthwise=True)
    # in place: max(512, 512) + one 8x8 channel of scratch = 576 < conv1's 192 + 512 = 704
    assert inplace.peak_sram_bytes == 704 and inplace.peak_at.startswith("conv1")
    unfolded = mcu_budget(three_layers(), input_size=(3, 8, 8), fold_bn=False, inplace_depthwise=True)
    assert unfolded.peak_sram_bytes == 1024  # batch norm as its own layer: conv1 out + bn1 out


def test_patch_stage_by_hand():
    """16x16 input, 2x2 patches of the depthwise output (8 channels, 16x16, receptive field 5):
    an 8x8 output patch needs 12x12 input pixels (7 + 5) and 10x10 of conv1's output (7 + (5-3) + 1);
    the stage output is assembled whole (8 * 256 = 2048)."""
    b = mcu_budget(three_layers(), input_size=(3, 16, 16), fold_bn=True, patches=2, patch_until="act2")
    assert b.layer_by_layer_peak == 2048 + 2048
    assert b.peak_sram_bytes == 3 * 144 + 8 * 100 + 2048
    assert "one patch" in b.peak_at


def test_mobilenet_v2_matches_the_mcunetv2_paper():
    """MCUNetV2 (Lin et al. 2021, Fig. 1): MobileNetV2 at 224, int8, layer by layer: 1,372 kB, the
    expansion conv of block 2 reading 112x112x16 and writing 112x112x96 (depthwise in place)."""
    b = mcu_budget("mobilenet_v2", fold_bn=True, inplace_depthwise=True)
    assert b.peak_sram_bytes == 112 * 112 * (16 + 96) and round(b.peak_sram_bytes / 1024) == 1372
    assert b.peak_at.startswith("features.2.conv.0")


def test_parse_budget():
    assert parse_budget("sram=320KB,flash=1MB") == {"sram": 320 * 1024, "flash": 1024**2}
    assert parse_budget("flash = 2 MB") == {"flash": 2 * 1024**2}
    for bad in ("sram", "ram=3KB", "sram=-1KB", "sram=3GB"):
        with pytest.raises(CnnlabError):
            parse_budget(bad)


def test_cli_summary_int8_budget(capsys):
    rc = main(
        ["summary", "mcunet", "--dtype", "int8", "--fold-bn", "--inplace-depthwise", "--budget", "sram=320KB,flash=1MB"]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "SRAM:" in out and "fits" in out and "flash" in out
    rc = main(["summary", "mcunet", "--dtype", "int8", "--budget", "sram=64KB"])
    out = capsys.readouterr().out
    assert rc == 1 and "does NOT fit" in out
