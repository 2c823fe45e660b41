"""TrainConfig's help lives once, in the field metadata, and `cnnlab train --help` shows each of them;
the compile decision asks the analyzer for the model's multiply-adds (meta device, model untouched)."""

from __future__ import annotations

import dataclasses
import re

import torch
import torch.nn as nn

from cnnlab.cli import build_parser
from cnnlab.cli.train import SKIP
from cnnlab.train import TrainConfig
from cnnlab.train.trainer import model_macs, should_compile


def test_every_setting_has_its_help_in_the_field_metadata_and_the_cli_shows_it():
    fields = dataclasses.fields(TrainConfig)
    assert all(len(f.metadata.get("help", "")) > 10 for f in fields)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = re.sub(r"\s+", "", train.format_help())  # argparse wraps lines (also after hyphens)
    for f in fields:
        if f.name not in SKIP:
            assert f"--{f.name.replace('_', '-')}" in text and re.sub(r"\s+", "", f.metadata["help"]) in text, f.name
    # mutable defaults are not shared between configurations
    a, b = TrainConfig(), TrainConfig()
    a.milestones.append(0.5)
    a.model_args["depth"] = 3
    assert b.milestones == [] and b.model_args == {}


class _Net(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1, groups=4),
            nn.Flatten(),
            nn.Linear(4 * 8 * 8, 10),
        )


def test_model_macs_is_the_hand_count_and_leaves_the_model_alone():
    net = _Net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    macs, depthwise = model_macs(net, (1, 8, 8))
    # conv: outputs x (k*k*in/groups) multiply-adds; linear: outputs x inputs
    assert macs == 4 * 8 * 8 * 9 + 4 * 8 * 8 * 9 * 1 + 10 * 256 and depthwise
    assert net.training and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert all(p.device.type == "cpu" for p in net.parameters())
    on, why = should_compile(TrainConfig(compile="auto"), net, (1, 8, 8), torch.device("cpu"))
    assert not on and "depthwise" in why
