"""A tiny experiment for the tests: LeNet-5 with ReLU vs tanh on a slice of the built-in MNIST sample."""

from __future__ import annotations

from cnnlab.experiments import Budget, Compare, Config, Experiment, Subset, Verdict


def tiny_verdict(results) -> Verdict:
    a, b = results["relu"].mean("train_error"), results["tanh"].mean("train_error")
    return Verdict(a < b, f"ReLU's training error is {a:.1f}% and tanh's {b:.1f}%")


def tiny_experiment(epochs: int = 2, **overrides) -> Experiment:
    return Experiment(
        name="tiny",
        title="tiny test experiment",
        claim="ReLU trains faster than tanh.",
        lecture="lecture 002",
        paper="Krizhevsky et al. 2012, Fig. 1",
        configs=(
            Config("relu", "lenet5", {"activation": "relu"}, group="a"),
            Config("tanh", "lenet5", {"activation": "tanh"}, group="b"),
        ),
        budgets={
            "quick": Budget(epochs=epochs, subset=Subset(per_class=12, val_per_class=6)),
            "full": Budget(epochs=epochs + 1),
        },
        compare=Compare(metric="train_error", figure="curves", target=60.0),
        recipe="lenet-mnist",
        overrides={"batch_size": 20, "precision": "fp32", **overrides},
        data="mnist-sample",
        data_options={"val_split": 0.2},
        train_images=1000,
        verdict=tiny_verdict,
    )
