"""The lecture experiments, one file each; :data:`EXPERIMENTS` lists them in lecture order."""

from __future__ import annotations

from ...errors import UnknownNameError
from ..spec import Experiment
from . import (
    activation,
    augmentation,
    batchnorm,
    bottleneck,
    degradation,
    depth,
    dropout,
    pooling,
    transfer,
    vit_vs_cnn,
    width,
)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        degradation.EXPERIMENT,
        activation.EXPERIMENT,
        pooling.EXPERIMENT,
        batchnorm.EXPERIMENT,
        dropout.EXPERIMENT,
        augmentation.EXPERIMENT,
        depth.EXPERIMENT,
        transfer.EXPERIMENT,
        vit_vs_cnn.EXPERIMENT,
        width.EXPERIMENT,
        bottleneck.EXPERIMENT,
    )
}


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise UnknownNameError("experiment", name, EXPERIMENTS, "cnnlab experiment list") from None


def list_experiments() -> list[str]:
    return list(EXPERIMENTS)
