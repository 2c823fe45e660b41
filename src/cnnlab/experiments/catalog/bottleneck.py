"""Basic vs bottleneck residual blocks at equal cost."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Subset, Verdict
from .common import final, lower, pct

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
            epochs=7,
            subset=Subset(per_class=1000, val_per_class=200),
            configs=("basic-n3", "basic-n5", "bottleneck-n3", "bottleneck-n5"),
            note="3 and 5 blocks per stage only, 10,000 training images, 7 epochs",
        ),
        "full": Budget(note="all four sizes with the ResNet paper's schedule (64k iterations)"),
    },
    verdict=verdict,
)
