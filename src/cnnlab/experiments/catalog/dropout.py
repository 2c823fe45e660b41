"""Dropout in the classifier reduces over-fitting (the gap between training and held-out error)."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Subset, Verdict
from .common import final, lower, pct

CONFIGS = (
    Config("no-dropout", "cifar_vgg11", {"drop_rate": 0.0, "hidden": 1024}, label="no dropout"),
    Config("dropout", "cifar_vgg11", {"drop_rate": 0.5, "hidden": 1024}, label="dropout 0.5"),
)


def verdict(results) -> Verdict:
    gap = {n: final(results, n, "val_error") - final(results, n, "train_error") for n in results}
    val = {n: final(results, n, "val_error") for n in results}
    facts = (
        f"the held-out minus training error gap is {gap['dropout']:.1f} points with dropout and "
        f"{gap['no-dropout']:.1f} without; held-out error {pct(val['dropout'])} vs {pct(val['no-dropout'])}"
    )
    if lower(gap["dropout"], gap["no-dropout"]) and val["dropout"] <= val["no-dropout"] + 0.5:
        return Verdict(True, facts)
    return Verdict(
        False, f"{facts}: dropout did not shrink the gap by more than a point without costing held-out error"
    )


EXPERIMENT = Experiment(
    name="dropout",
    title="Dropout in the classifier: training vs held-out error (VGG-11 at 1/4 width, CIFAR-10 subset)",
    claim="Dropout in the fully connected layers reduces over-fitting: the gap between training and held-out error "
    "shrinks, and the held-out error does not get worse.",
    lecture="lecture 002 (AlexNet: 'Dropout' against over-fitting)",
    paper="Krizhevsky et al. 2012, section 4.2 ('Without dropout, our network exhibits substantial overfitting'); "
    "Srivastava et al. 2014, Dropout, Fig. 4",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="curves"),
    recipe="resnet-cifar",
    overrides={"augment": ""},  # no augmentation: let the network over-fit
    budgets={
        "quick": Budget(
            epochs=60,
            subset=Subset(per_class=500, val_per_class=200),
            note="5,000 training images (500 per class), no augmentation, 60 epochs: a setting that over-fits quickly",
        ),
        "full": Budget(epochs=100, note="all 45,000 training images, no augmentation, 100 epochs"),
    },
    verdict=verdict,
    notes="The classifier is 128-1024-1024-10 with dropout before the second and third layers, as in AlexNet/VGG.",
)
