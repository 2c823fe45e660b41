"""Depth helps VGG: configurations A, B, D, E (11, 13, 16, 19 weight layers), scaled to CIFAR-10."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import QUICK_VAL, final, lower, pct

CONFIGS = tuple(Config(f"vgg{d}", f"cifar_vgg{d}", label=f"{c} (VGG-{d})") for c, d in zip("ABDE", (11, 13, 16, 19)))


def verdict(results) -> Verdict:
    names = list(results)
    v = [final(results, n, "val_error") for n in names]
    facts = ", ".join(f"{results[n].config.title} {pct(e)}" for n, e in zip(names, v))
    if lower(v[-1], v[0]):
        mono = all(b <= a + 0.5 for a, b in zip(v, v[1:]))
        return Verdict(
            True,
            f"held-out error {facts}: the deepest beats the shallowest"
            + ("" if mono else " (though not monotonically)"),
        )
    return Verdict(
        False,
        f"held-out error {facts}: the deepest configuration is not better than the shallowest by more than a point",
    )


EXPERIMENT = Experiment(
    name="depth",
    title="VGG depth: configurations A, B, D, E at 1/4 width (CIFAR-10)",
    claim="With the same 3x3 building block, deeper VGG configurations (A=11 to E=19 weight layers) classify better.",
    lecture="lecture 002 (VGGNet: 'better accuracy as the depth increases, with the 19-layer model ... the best')",
    paper="Simonyan & Zisserman 2015, Very Deep Convolutional Networks, Table 1 (configurations) and Table 3",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="curves"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(
            epochs=5,
            subset=QUICK_VAL,
            overrides={"warmup_epochs": 1},
            note="5 epochs of the 45,000 training images with a 1-epoch linear warm-up: deeper networks "
            "usually need more epochs, which favours the shallow ones",
        ),
        "full": Budget(epochs=100, note="100 epochs, /10 at 50% and 75%"),
    },
    verdict=verdict,
    notes="Batch norm after every convolution (the paper instead initialised the deeper nets from A): without it "
    "VGG-19 does not train from scratch at these rates. Widths are 1/4 of the paper's (16-128).",
)
