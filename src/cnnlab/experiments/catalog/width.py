"""MobileNet's width multiplier trades accuracy for multiply-adds smoothly."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import CIFAR_10K, final, lower, pct

WIDTHS = (0.25, 0.5, 0.75, 1.0)
CONFIGS = tuple(
    Config(
        f"x{w:g}",
        "mobilenet_v1" if w == 1 else f"mobilenet_v1_x{w:g}".replace(".", "_"),
        group="MobileNetV1",
        label=f"{w:g} MobileNet",
    )
    for w in WIDTHS
)


def verdict(results) -> Verdict:
    names = [f"x{w:g}" for w in WIDTHS]
    v = [final(results, n, "val_error") for n in names]
    macs = [results[n].macs / 1e6 for n in names]
    facts = ", ".join(f"width {w:g}: {pct(e)} at {m:.1f} MMACs" for w, e, m in zip(WIDTHS, v, macs))
    if lower(v[-1], v[0]) and all(b <= a + 1.0 for a, b in zip(v, v[1:])):
        return Verdict(True, f"held-out error {facts}: fewer multiply-adds, higher error, step by step")
    return Verdict(False, f"held-out error {facts}: the error does not fall steadily with width")


EXPERIMENT = Experiment(
    name="width",
    title="MobileNetV1 width multipliers 0.25-1.0: error against multiply-adds (CIFAR-10)",
    claim="Shrinking every layer's width by alpha cuts the multiply-adds by about alpha^2 and lowers accuracy "
    "smoothly, so the width multiplier picks a point on an accuracy/cost curve.",
    lecture="lecture 003 (MobileNet: width multiplier) and lecture 004 (efficient networks)",
    paper="Howard et al. 2017, MobileNets, section 3.3 and Table 6",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="macs", log_x=True),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            epochs=4,
            subset=CIFAR_10K,
            note="4 epochs of 10,000 training images (1,000 per class) at 32x32 (the "
            "network ends at 1x1: ImageNet's 224 gives it 7x7)",
        ),
        "full": Budget(epochs=100, note="100 epochs, /10 at 50% and 75%"),
    },
    verdict=verdict,
)
