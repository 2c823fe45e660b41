"""Expected wall time of an experiment from its step counts and measured training rates (no running).

A training image costs (seconds, ``cnnlab train`` at bf16, channels-last, batch 128)

    6 x MACs / PEAK_FLOPS  +  output bytes x SECONDS_PER_OUTPUT_BYTE  +  PER_IMAGE_S

- the arithmetic at the rate the convolutions reach (forward + backward = 3 passes of 2 x MACs FLOPs);
- the memory traffic of the layers' outputs (the analyzer's ``all_outputs_bytes``, fp32): batch norm,
  ReLU, additions and the 1x1 convolutions of narrow networks are bound by it, not by FLOPs;
- loading, augmentation, the optimizer step and the per-step statistics.

The three constants are a least-squares fit (relative error) to the 32 quick-budget runs with batch
128 measured on 2026-11-30 on the 2-core Intel Xeon (AMX-BF16), the slower of this project's two
machines: 727 GFLOP/s, 0.36 ms per MB of outputs, 0.215 ms per image. It covers ResNet-20 to
ResNet-110, plain nets, bottleneck ResNets, the small CIFAR VGGs and ConvNets, with a median error of
14% and a largest of 51% (the small ConvNet runs faster than it says). Two kinds of networks fall
outside it and keep a factor measured on the same machine: transformers (attention, layer norm,
GELU: TRANSFORMER_SLOWDOWN, from the ViT-Ti runs) and the depthwise MobileNets, which run at
6.6-11 GFLOP/s at 32x32 (GFLOPS_DEPTHWISE). A held-out image costs a third of a training image
(one pass), and so does a training image through a frozen backbone (a linear probe). The AMD
EPYC runs dense networks about 1.6x faster (docs/training-speed.md), so estimates are long there.
These are estimates; the reports record measured times, and ``benchmarks/experiment_rates.py``
measures the rates on the machine at hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from .spec import Experiment, PlannedRun

PEAK_FLOPS = 727e9
SECONDS_PER_OUTPUT_BYTE = 0.36e-3 / 1e6
PER_IMAGE_S = 0.215e-3
TRANSFORMER_SLOWDOWN = 1.6  # measured/fitted: ViT-Ti/4 1.6-1.75 (64-71 img/s), ViT-Ti/8 1.4-1.7 (250-296)
GFLOPS_DEPTHWISE = 12.0  # measured on the Xeon: MobileNetV1 x0.25 6.6, x0.5 11 (32x32, batch 128)
OVERHEAD_S = 5.0  # per run: building the model, the first batches, writing the run folder


class ModelCost(NamedTuple):
    params: int
    macs: int  # per image
    output_bytes: int  # every layer's output for one image, fp32 (the analyzer's all_outputs_bytes)
    kind: str  # "dense", "depthwise" or "transformer"


def model_cost(model: str, args: dict, in_chans: int = 3, side: int = 32, num_classes: int = 10) -> ModelCost:
    """Parameters, multiply-adds, output bytes and kind of a network, from the analyzer (meta device,
    nothing computed)."""
    return _model_cost(model, json.dumps(args, sort_keys=True), in_chans, side, num_classes)


@cache
def _model_cost(model: str, args: str, in_chans: int, side: int, num_classes: int) -> ModelCost:
    import torch
    import torch.nn as nn

    from ..analysis import summary
    from ..models import create_model

    with torch.device("meta"):
        net = create_model(model, num_classes=num_classes, in_chans=in_chans, **json.loads(args))
    s = summary(net, input_size=(in_chans, side, side))
    modules = list(net.modules())
    if any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in modules):
        kind = "depthwise"
    elif any(isinstance(m, nn.MultiheadAttention) or "attention" in type(m).__name__.lower() for m in modules):
        kind = "transformer"
    else:
        kind = "dense"
    return ModelCost(s.params.total, s.macs, s.memory.all_outputs_bytes, kind)


def train_seconds_per_image(cost: ModelCost) -> float:
    """Expected seconds per training image at batch 128 (see the module's docstring)."""
    if cost.kind == "depthwise":
        return 6 * cost.macs / (GFLOPS_DEPTHWISE * 1e9) + PER_IMAGE_S
    t = 6 * cost.macs / PEAK_FLOPS + cost.output_bytes * SECONDS_PER_OUTPUT_BYTE + PER_IMAGE_S
    return t * (TRANSFORMER_SLOWDOWN if cost.kind == "transformer" else 1.0)


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
    cost = model_cost(cfg["model"], cfg.get("model_args", {}), num_classes=k)
    batch = cfg.get("batch_size", 128)
    steps_per_epoch = max(1, n_train // batch)
    steps = cfg.get("steps") or cfg.get("epochs", 1) * steps_per_epoch
    epochs = -(-steps // steps_per_epoch)
    every = cfg.get("eval_every", 1)
    evaluations = epochs // every if every else 1
    evaluations = max(1, evaluations + (1 if every and epochs % every else 0))
    train_images = steps * batch
    val_images = evaluations * n_val
    per_image = train_seconds_per_image(cost)
    frozen = cfg.get("freeze", "none") == "backbone"  # a linear probe: no backward through the backbone
    train_s = train_images * per_image / (3 if frozen else 1)
    val_s = val_images * per_image / 3
    seconds = train_s + val_s + OVERHEAD_S
    return RunEstimate(run.name, train_images, val_images, cost.macs, seconds)


def estimate_minutes(exp: Experiment, budget: str, seeds: int | None = None) -> float:
    return sum(estimate_run(exp, r).seconds for r in exp.plan(budget, seeds)) / 60
