"""Data augmentation reduces over-fitting: none vs crop+flip vs crop+flip+cutout."""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict
from .common import CIFAR_10K, final, lower, pct

CONFIGS = (
    Config("none", "resnet20", overrides={"augment": ""}, label="no augmentation"),
    Config("crop-flip", "resnet20", overrides={"augment": "crop=4,flip"}, label="crop + flip"),
    Config("cutout", "resnet20", overrides={"augment": "crop=4,flip,cutout=16"}, label="crop + flip + cutout 16"),
)


def verdict(results) -> Verdict:
    v = {n: final(results, n, "val_error") for n in results}
    facts = (
        f"held-out error {pct(v['none'])} without augmentation, {pct(v['crop-flip'])} with crop + flip, "
        f"{pct(v['cutout'])} with cutout added"
    )
    if lower(v["crop-flip"], v["none"]):
        extra = (
            "; cutout helps further"
            if lower(v["cutout"], v["crop-flip"])
            else "; cutout does not help further by more than a point at this budget (DeVries & Taylor train 200 "
            "epochs)"
        )
        return Verdict(True, facts + extra)
    return Verdict(False, f"{facts}: crop + flip did not lower the held-out error by more than a point")


EXPERIMENT = Experiment(
    name="augmentation",
    title="Data augmentation: none / crop+flip / +cutout (ResNet-20, CIFAR-10 subset)",
    claim="Augmenting the training images (random crops and flips; cutout on top) reduces over-fitting and lowers "
    "the held-out error, at the price of a higher training error.",
    lecture="lecture 002 (AlexNet: 'Data Augmentation' against over-fitting)",
    paper="Krizhevsky et al. 2012, section 4.1; He et al. 2016, section 4.2 (crop + flip); DeVries & Taylor 2017, "
    "Improved Regularization of CNNs with Cutout, Table 1",
    configs=CONFIGS,
    compare=Compare(metric="val_error", figure="curves"),
    recipe="resnet-cifar",
    budgets={
        "quick": Budget(epochs=12, subset=CIFAR_10K, note="10,000 training images (1,000 per class), 12 epochs"),
        "full": Budget(note="the ResNet paper's schedule (64k iterations) on all 45,000 training images"),
    },
    verdict=verdict,
)
