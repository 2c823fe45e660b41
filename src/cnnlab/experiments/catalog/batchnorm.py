"""Batch norm allows higher learning rates (and regularises)."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import QUICK_VAL, final, lower, pct

LOW, HIGH = 0.02, 0.1
CONFIGS = tuple(
    Config(
        f"{'bn' if bn else 'nobn'}-lr{lr:g}",
        "cifar_vgg11",
        {"batch_norm": bn},
        {"lr": lr},
        group=f"learning rate {lr:g}",
        label=f"{'with' if bn else 'without'} batch norm",
    )
    for lr in (LOW, HIGH)
    for bn in (True, False)
)


def verdict(results) -> Verdict:
    e = {n: final(results, n, "val_error") for n in results}
    bn_hi, no_hi = e[f"bn-lr{HIGH:g}"], e[f"nobn-lr{HIGH:g}"]
    bn_best, no_best = min(e[f"bn-lr{LOW:g}"], bn_hi), min(e[f"nobn-lr{LOW:g}"], no_hi)
    facts = (
        f"at lr {HIGH:g} the held-out error is {pct(bn_hi)} with batch norm and {pct(no_hi)} without; the best "
        f"of the two rates is {pct(bn_best)} with and {pct(no_best)} without"
    )
    if lower(bn_hi, no_hi) and lower(bn_best, no_best):
        return Verdict(True, f"{facts}")
    return Verdict(False, f"{facts}: batch norm is not better by more than a point at the higher rate and overall")


EXPERIMENT = Experiment(
    name="batchnorm",
    title="With and without batch norm at two learning rates (VGG-11 at 1/4 width, CIFAR-10)",
    claim="Batch normalisation lets a network train with a higher learning rate (where the network without it "
    "trains badly or diverges) and reach a lower error.",
    lecture="lecture 001 ('Batch Normalization', 'What Batch Norms really do', 'for capacity control')",
    paper="Ioffe & Szegedy 2015, Batch Normalization, section 3.3 and Fig. 2 / Table 1 (BN-x5, BN-x30: higher "
    "learning rates)",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="curves"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(epochs=5, subset=QUICK_VAL, note="5 epochs of the 45,000 training images per configuration"),
        "full": Budget(epochs=60, note="60 epochs, /10 at 50% and 75%"),
    },
    verdict=verdict,
    notes="A run whose loss becomes NaN/infinite is reported as diverged (its error counted as chance).",
)
