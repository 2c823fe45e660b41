"""Expected wall time of an experiment from its step counts and measured training rates (no running).

A training image costs about 3 forward passes (forward + backward) = 6 x MACs FLOPs; a held-out
image one forward pass (2 x MACs). The rates are the effective GFLOP/s of `cnnlab train` (bf16, channels-last, batch 128) on
the slower of this project's two 2-core machines, the Intel Xeon (AMX-BF16), with nothing else
running: 240 for ResNet-20/56-class dense networks, fitted to the degradation experiment's four
runs (714 s wall on 2026-11-30). The AMD EPYC ran the same networks at about 390
(docs/training-speed.md), so an estimate is about 1.6x too long there. The other classes were
measured on the AMD machine and are scaled by the same 240/390: LeNet-5-sized nets (per-step overhead dominates) 64 -> 39; the 10-30 MMAC
networks (the experiments' CIFAR VGGs) 200 -> 123, an interpolation. The depthwise
MobileNets at 32x32 are far below all of these: 6.6 GFLOP/s for MobileNetV1 x0.25 and 11 for x0.5
(1,000 and 550 img/s, measured on the Xeon); 12 is used for all widths. These are estimates; the
reports record measured times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from .spec import Experiment, PlannedRun

GFLOPS_DENSE = 240.0
GFLOPS_SMALL = 123.0  # 5-30 MMAC/image: interpolated, not measured
GFLOPS_TINY = 39.0
GFLOPS_DEPTHWISE = 12.0  # measured on the Xeon: MobileNetV1 x0.25 6.6, x0.5 11 (32x32, batch 128)
OVERHEAD_S = 5.0  # per run: building the model, the first batches, writing the run folder
# the fastest training measured (LeNet-5, batch 256: 25,416 img/s): loader, optimizer and per-step
# statistics bound any network, however few its multiply-adds
MAX_TRAIN_IMAGES_PER_S = 25_000.0


def model_cost(
    model: str, args: dict, in_chans: int = 3, side: int = 32, num_classes: int = 10
) -> tuple[int, int, bool]:
    """(params, MACs per image, has depthwise convolutions) from the analyzer (meta device, nothing computed)."""
    return _model_cost(model, json.dumps(args, sort_keys=True), in_chans, side, num_classes)


@cache
def _model_cost(model: str, args: str, in_chans: int, side: int, num_classes: int) -> tuple[int, int, bool]:
    import torch
    import torch.nn as nn

    from ..analysis import summary
    from ..models import create_model

    with torch.device("meta"):
        net = create_model(model, num_classes=num_classes, in_chans=in_chans, **json.loads(args))
    s = summary(net, input_size=(in_chans, side, side))
    depthwise = any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in net.modules())
    return s.params.total, s.macs, depthwise


def rate_gflops(macs: int, depthwise: bool) -> float:
    if depthwise:
        return GFLOPS_DEPTHWISE
    if macs < 1e6:
        return GFLOPS_TINY
    if macs < 30e6:
        return GFLOPS_SMALL
    return GFLOPS_DENSE


@dataclass
class RunEstimate:
    run: str
    train_images: int  # images seen in training (all epochs)
    val_images: int  # images evaluated (all evaluations)
    macs: int
    seconds: float


def split_sizes(exp: Experiment, run: PlannedRun) -> tuple[int, int]:
    """(training, held-out) images of a run, from the experiment's data-set size and the run's subset."""
    total = exp.train_images
    val_frac = run.train.get("data_options", {}).get("val_split") or 0.1
    classes = exp.num_classes
    sub = run.subset
    per_class_train = total * (1 - val_frac) / classes
    per_class_val = total * val_frac / classes
    k = len(sub.classes) if sub.classes is not None else classes
    if sub.per_class is not None:
        per_class_train = min(per_class_train, sub.per_class)
    if sub.fraction is not None:
        per_class_train *= sub.fraction
    if sub.val_per_class is not None:
        per_class_val = min(per_class_val, sub.val_per_class)
    return int(k * per_class_train), int(k * per_class_val)


def estimate_run(exp: Experiment, run: PlannedRun) -> RunEstimate:
    n_train, n_val = split_sizes(exp, run)
    cfg = run.train
    k = len(run.subset.classes) if run.subset.classes is not None else exp.num_classes
    _, macs, depthwise = model_cost(cfg["model"], cfg.get("model_args", {}), num_classes=k)
    batch = cfg.get("batch_size", 128)
    steps_per_epoch = max(1, n_train // batch)
    steps = cfg.get("steps") or cfg.get("epochs", 1) * steps_per_epoch
    epochs = -(-steps // steps_per_epoch)
    every = cfg.get("eval_every", 1)
    evaluations = epochs // every if every else 1
    evaluations = max(1, evaluations + (1 if every and epochs % every else 0))
    train_images = steps * batch
    val_images = evaluations * n_val
    rate = rate_gflops(macs, depthwise) * 1e9
    frozen = cfg.get("freeze", "none") == "backbone"  # a linear probe: no backward through the backbone
    per_train = (2 if frozen else 6) * macs
    train_s = max(train_images * per_train / rate, train_images / MAX_TRAIN_IMAGES_PER_S)
    val_s = max(val_images * 2 * macs / rate, val_images / (3 * MAX_TRAIN_IMAGES_PER_S))
    seconds = train_s + val_s + OVERHEAD_S
    return RunEstimate(run.name, train_images, val_images, macs, seconds)


def estimate_minutes(exp: Experiment, budget: str, seeds: int | None = None) -> float:
    return sum(estimate_run(exp, r).seconds for r in exp.plan(budget, seeds)) / 60
