"""Learning-rate schedules and optimizer parameter groups: exact values from their definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from cnnlab.train import TrainConfig
from cnnlab.train.optim import build_optimizer, build_scheduler, lr_factor, param_groups


def test_resnet_paper_multistep_divides_by_ten_at_32k_and_48k_of_64k():
    # He et al. 2016, sec. 4.2: lr 0.1, /10 at 32k and 48k iterations, stop at 64k
    f = lambda s: lr_factor(s, 64000, 0, "multistep", gamma=0.1, milestones=(0.5, 0.75))  # noqa: E731
    assert f(0) == 1.0 and f(31999) == 1.0
    assert f(32000) == pytest.approx(0.1) and f(47999) == pytest.approx(0.1)
    assert f(48000) == pytest.approx(0.01) and f(63999) == pytest.approx(0.01)


def test_step_schedule_every_n_and_default_thirds():
    assert [lr_factor(s, 90, 0, "step", step_size=30) for s in (0, 29, 30, 59, 60, 89)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    assert [lr_factor(s, 300, 0, "step") for s in (0, 99, 100, 199, 200, 299)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    # MobileNetV2-style x0.98 per epoch (step_size = one epoch of 10 steps)
    assert lr_factor(35, 3000, 0, "step", gamma=0.98, step_size=10) == pytest.approx(0.98**3)


def test_cosine_is_half_a_cosine_after_warmup():
    total, warm = 110, 10
    assert [lr_factor(s, total, warm, "cosine") for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor(10, total, warm, "cosine") == pytest.approx(1.0)
    assert lr_factor(60, total, warm, "cosine") == pytest.approx(0.5)
    assert lr_factor(10 + 25, total, warm, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_onecycle_is_airbench_triangle_with_its_numbers():
    # airbench94: 0.2 at step 0, 1.0 at 23% of training, 0.07 at the end
    total = 1000
    f = lambda s: lr_factor(s, total, 0, "onecycle", start=0.2, peak_at=0.23, end=0.07)  # noqa: E731
    assert f(0) == pytest.approx(0.2)
    assert f(230) == pytest.approx(1.0)
    assert f(115) == pytest.approx(0.6)
    assert f(1000) == pytest.approx(0.07)
    assert f(615) == pytest.approx(1 + (0.07 - 1) * 0.5)


def test_warmup_then_constant():
    assert [lr_factor(s, 100, 4, "constant") for s in range(6)] == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])


def test_scheduler_drives_optimizer_and_norm_lr_scale():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    cfg = TrainConfig(
        lr=0.1, schedule="multistep", milestones=[0.5], epochs=2, norm_lr_scale=64.0, weight_decay=1e-4, nesterov=False
    )
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=5)
    # conv + linear weights; the conv and linear biases; the batch norm's weight and bias
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2, 2]
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.1, 6.4])
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-4, 0.0, 0.0]
    for _ in range(5):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01, 0.01, 0.64])


def test_no_weight_decay_on_norms_and_biases():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    decay, biases, norms = param_groups(model, 5e-4)
    assert {p.ndim for p in decay["params"]} == {4, 2} and len(decay["params"]) == 2
    assert len(biases["params"]) == 2 and biases["weight_decay"] == 0.0
    assert len(norms["params"]) == 2 and norms["weight_decay"] == 0.0


def test_decay_all_shrinks_norms_and_biases_like_the_weights():
    # airbench94: batch-norm biases at 64x the learning rate but the same decay per step as the weights
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    opt = build_optimizer(
        model, TrainConfig(lr=1.5, weight_decay=1.33e-3, norm_lr_scale=64.0, decay_all=True, momentum=0.0)
    )
    assert [g["weight_decay"] for g in opt.param_groups] == pytest.approx([1.33e-3, 1.33e-3, 1.33e-3 / 64])
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()  # zero gradient: only the decay acts, every parameter shrinks by lr x wd = 0.001995
    for p in model.parameters():
        assert torch.allclose(p, torch.full_like(p, 1 - 1.5 * 1.33e-3))


def test_adamw_uses_momentum_as_beta1():
    opt = build_optimizer(nn.Linear(2, 2), TrainConfig(optimizer="adamw", lr=1e-3, momentum=0.8))
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["betas"] == (0.8, 0.999)
