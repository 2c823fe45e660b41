"""Optimizers and learning-rate schedules (per optimizer step).

Weight decay goes on the weights of convolutions and linear layers only: norms and biases are
left alone (Goyal et al. 2017, "Accurate, large minibatch SGD", section 3.1 note; common practice
since). ``norm_lr_scale`` raises the learning rate of the normalisation layers' parameters
(airbench uses 64 for its batch-norm biases, Jordan 2024); ``bias_lr_scale`` does the same for
the other biases (Caffe's AlexNet and VGG recipes used 2). ``decay_all`` decays norms and biases
too, at the same shrink per step as the weights: PyTorch's coupled decay shrinks a parameter by
lr x wd per step, so a group whose lr is scaled by s gets wd / s (airbench94's "scales up the
learning rate (but not the weight decay) for batch-norm biases"). ``muon`` trains the
convolution filters with Muon (``cnnlab.train.muon``) and everything else with SGD.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .config import TrainConfig

NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def param_groups(
    model: nn.Module,
    weight_decay: float,
    lr: float | None = None,
    norm_lr_scale: float = 1.0,
    decay_all: bool = False,
    bias_lr_scale: float = 1.0,
) -> list[dict]:
    """Conv/linear weights (decayed); other biases (learning rate x ``bias_lr_scale``);
    normalisation layers' parameters (learning rate x ``norm_lr_scale``). Biases and norms are not
    decayed unless ``decay_all``, then by ``weight_decay`` / their scale, which shrinks them by the
    same fraction per step as the weights. Empty groups are left out."""
    norm_ids = {id(p) for m in model.modules() if isinstance(m, NORMS) for p in m.parameters(recurse=False)}
    decay, no_decay, norms = [], [], []
    for p in model.parameters():
        if p.requires_grad:
            (norms if id(p) in norm_ids else decay if p.ndim > 1 else no_decay).append(p)
    groups = []
    for params, scale, wd in (
        (decay, 1.0, weight_decay),
        (no_decay, bias_lr_scale, weight_decay / bias_lr_scale),
        (norms, norm_lr_scale, weight_decay / norm_lr_scale),
    ):
        groups.append({"params": params, "weight_decay": wd if (decay_all or params is decay) else 0.0})
        if lr is not None:
            groups[-1]["lr"] = lr * scale
    return [g for g in groups if g["params"]]


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, cfg.lr, cfg.norm_lr_scale, cfg.decay_all, cfg.bias_lr_scale)
    if cfg.backbone_lr_scale != 1.0:  # fine-tuning: the pretrained backbone learns slower than the new head
        from .transfer import classifier_name, split_backbone_groups

        head_params = {id(p) for p in model.get_submodule(classifier_name(model)).parameters()}
        groups = split_backbone_groups(groups, head_params, cfg.backbone_lr_scale)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.momentum, 0.999))
    if cfg.optimizer == "muon":  # the convolution filters (4-D weights) move by Muon, the rest by SGD
        from .muon import Muon

        # one Muon group per source group, at its rate relative to --lr (a slowed backbone stays slowed)
        muon = [
            {
                "params": f,
                "lr": cfg.muon_lr * g["lr"] / cfg.lr,
                "momentum": cfg.muon_momentum,
                "weight_decay": 0.0,
                "muon": True,
            }
            for g in groups
            if (f := [p for p in g["params"] if p.ndim == 4])
        ]
        rest = [{**g, "params": [p for p in g["params"] if p.ndim != 4]} for g in groups]
        return Muon([g for g in rest if g["params"]] + muon, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def lr_factor(
    step: int,
    total: int,
    warmup: int,
    schedule: str,
    *,
    gamma: float = 0.1,
    step_size: int = 0,
    milestones: tuple[float, ...] = (),
    start: float = 0.04,
    peak_at: float = 0.25,
    end: float = 0.001,
) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based) of ``total`` optimizer steps.

    ``warmup`` steps rise linearly to 1 first (for every schedule). Then:

    - ``constant``: 1
    - ``step``: ``gamma`` every ``step_size`` steps (0: at 1/3 and 2/3 of the remaining steps)
    - ``multistep``: ``gamma`` at each milestone (fractions of ``total``; the ResNet paper's CIFAR
      recipe is /10 at 32k and 48k of 64k iterations: milestones 0.5, 0.75)
    - ``cosine``: half a cosine from 1 to 0 (Loshchilov & Hutter 2017, SGDR, without restarts)
    - ``linear``: linear from 1 down to ``end`` (airbench94_muon: to 0)
    - ``onecycle``: linear from ``start`` up to 1 at ``peak_at`` of training, then linear down to
      ``end`` (Smith 2018, "super-convergence"; airbench's triangle: start 0.2, peak 0.23, end 0.07).
      With a warm-up, the warm-up replaces the rising half.
    """
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    if schedule == "multistep":
        return gamma ** sum(step >= round(m * total) for m in milestones)
    t = (step - warmup) / max(1, total - warmup)
    if schedule == "step":
        if step_size:
            return gamma ** ((step - warmup) // step_size)
        return gamma ** min(2, int(t * 3))  # /10 at 1/3 and 2/3 of training
    if schedule == "linear":
        return 1.0 + (end - 1.0) * min(t, 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if schedule == "onecycle":
        if warmup == 0 and t < peak_at:
            return start + (1 - start) * t / peak_at
        if warmup == 0:
            t = (t - peak_at) / (1 - peak_at)
        return 1.0 + (end - 1.0) * min(t, 1.0)
    raise ValueError(schedule)


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    return cfg.steps if cfg.steps > 0 else cfg.epochs * steps_per_epoch


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    total = total_steps(cfg, steps_per_epoch)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    kw = dict(
        gamma=cfg.gamma,
        step_size=int(round(cfg.step_epochs * steps_per_epoch)),
        milestones=tuple(cfg.milestones),
        start=cfg.lr_start,
        peak_at=cfg.lr_peak_at,
        end=cfg.lr_end,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warmup, cfg.schedule, **kw))
