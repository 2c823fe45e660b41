"""Basic vs bottleneck residual blocks at equal cost."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import CIFAR_10K, final, lower, pct

BLOCKS = (3, 5, 9, 18)  # blocks per stage: ResNet-20/32/56/110 and their bottleneck forms (29/47/83/164 layers)
CONFIGS = tuple(
    Config(
        f"{kind}-n{n}",
        f"resnet{6 * n + 2}",
        {"block": kind},
        group=f"{kind} blocks",
        label=f"ResNet-{6 * n + 2 if kind == 'basic' else 9 * n + 2} ({kind})",
    )
    for kind in ("basic", "bottleneck")
    for n in BLOCKS
)


def verdict(results) -> Verdict:
    ns = sorted({int(n.split("-n")[1]) for n in results})
    pairs = [
        (n, final(results, f"basic-n{n}", "val_error"), final(results, f"bottleneck-n{n}", "val_error")) for n in ns
    ]
    facts = "; ".join(f"{n} blocks/stage: basic {pct(b)}, bottleneck {pct(k)} (held-out)" for n, b, k in pairs)
    wins = sum(lower(k, b) for _, b, k in pairs)
    if wins == len(pairs):
        return Verdict(True, f"{facts}: at each cost the deeper bottleneck network is better")
    return Verdict(
        False, f"{facts}: the bottleneck network wins {wins} of {len(pairs)} equal-cost pairs by more than a point"
    )


EXPERIMENT = Experiment(
    name="bottleneck",
    title="Basic vs bottleneck residual blocks at equal multiply-adds (CIFAR-10)",
    claim="A bottleneck block (1x1 reduce, 3x3, 1x1 expand) costs about what a basic block of the same inner width "
    "costs, so at equal multiply-adds the bottleneck network is 1.5x deeper and 4x wider at its outputs, and "
    "more accurate.",
    lecture="lecture 004 ('Residual Networks: Bottleneck Block', 'Bottleneck residual block')",
    paper="He et al. 2016, Deep Residual Learning, Fig. 5 and Table 3 (ResNet-50 vs ResNet-34 at similar cost); "
    "He et al. 2016, Identity Mappings in Deep Residual Networks, Table 3 (ResNet-164 on CIFAR)",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="macs"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            epochs=8,
            subset=CIFAR_10K,
            configs=("basic-n3", "bottleneck-n3"),
            overrides={"warmup_epochs": 1},
            note="3 blocks per stage only (ResNet-20 against its bottleneck form, ResNet-29, both 41 MMACs), 10,000 "
            "training images, 8 epochs with a 1-epoch linear warm-up (without it, lr 0.1 threw both bottleneck "
            "networks off in the first epoch and they ended 7 epochs at 73-76% held-out error). The bottleneck "
            "network trains 2-3x slower per multiply-add on this CPU (its 1x1 convolutions on 16 channels are "
            "memory-bound), which is why the 5-block pair does not fit 10 minutes",
        ),
        "full": Budget(
            overrides={"warmup_epochs": 1},
            note="all four sizes with the ResNet paper's schedule (64k iterations) and the 1-epoch warm-up the "
            "paper uses for ResNet-110",
        ),
    },
    verdict=verdict,
)
