"""Max pooling vs average pooling in the same network."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import NOISE_NOTE, NOISE_POINTS, QUICK_VAL, final, lower, pct

CONFIGS = (
    Config("max", "cifar_vgg11", {"pool": "max"}, label="max pooling"),
    Config("avg", "cifar_vgg11", {"pool": "avg"}, label="average pooling"),
)


def verdict(results) -> Verdict:
    m, a = final(results, "max", "val_error"), final(results, "avg", "val_error")
    facts = f"held-out error {pct(m)} with max pooling against {pct(a)} with average pooling"
    if lower(m, a):
        return Verdict(True, f"{facts}: max pooling is better by {a - m:.1f} points")
    if abs(a - m) <= NOISE_POINTS:
        return Verdict(False, f"{facts}: a {abs(a - m):.1f}-point difference is {NOISE_NOTE}")
    return Verdict(False, f"{facts}: max pooling is not better here")


EXPERIMENT = Experiment(
    name="pooling",
    title="Max vs average pooling (VGG-11 at 1/4 width, CIFAR-10)",
    claim="Max pooling (keeping the strongest response in each window) works better than average pooling for "
    "classification in the same network.",
    lecture="lecture 001 (pooling: 'Max pooling: the strongest pattern signal in a window'; average pooling) and "
    "lecture 003",
    paper="Scherer, Mueller, Behnke 2010, Evaluation of Pooling Operations in Convolutional Architectures for Object "
    "Recognition (max pooling significantly better than subsampling); Boureau et al. 2010",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="curves"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(epochs=9, subset=QUICK_VAL, note="9 epochs of the 45,000 training images"),
        "full": Budget(epochs=100, note="100 epochs, /10 at 50% and 75%"),
    },
    verdict=verdict,
)
