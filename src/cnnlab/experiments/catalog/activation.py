"""ReLU networks reach a training error several times faster than tanh ones.

Krizhevsky, Sutskever, Hinton 2012, Fig. 1: a four-layer CNN with ReLUs reaches 25% training
error on CIFAR-10 six times faster (in epochs) than the same network with tanh units; no
regularisation; each network's learning rate chosen for speed.
"""

from __future__ import annotations

from ..spec import Budget, Compare, Config, Experiment, Verdict

TARGET = 25.0
CONFIGS = (
    Config("relu", "cifar_convnet4", {"activation": "relu"}, label="ReLU"),
    Config("tanh", "cifar_convnet4", {"activation": "tanh"}, label="tanh"),
)


def verdict(results) -> Verdict:
    relu, n_relu = results["relu"].epochs_to("train_error", TARGET)
    tanh, n_tanh = results["tanh"].epochs_to("train_error", TARGET)
    epochs = results["tanh"].epochs
    if relu is None:
        return Verdict(False, f"the ReLU network did not reach {TARGET:g}% training error in {epochs} epochs")
    if tanh is None:
        return Verdict(
            True,
            f"ReLU reached {TARGET:g}% training error after {relu:g} epochs; tanh had not reached it "
            f"after {epochs} (more than {epochs / relu:.1f}x slower; the paper: 6x)",
        )
    ratio = tanh / relu
    if ratio >= 1.5:
        return Verdict(
            True,
            f"ReLU reached {TARGET:g}% training error after {relu:g} epochs, tanh after {tanh:g}: "
            f"{ratio:.1f}x faster (the paper: 6x)",
        )
    return Verdict(
        False,
        f"ReLU reached {TARGET:g}% training error after {relu:g} epochs and tanh after {tanh:g} "
        f"({ratio:.1f}x): not clearly faster",
    )


EXPERIMENT = Experiment(
    name="activation",
    title="ReLU vs tanh: epochs to 25% training error (CIFAR-10)",
    claim="A convolutional network with ReLUs reaches 25% training error several times (the paper: six times) "
    "faster than the same network with tanh units.",
    lecture="lecture 002 (AlexNet: 'ReLUs can train several times faster than their equivalents with tanh units')",
    paper="Krizhevsky et al. 2012, ImageNet Classification with Deep CNNs, Fig. 1",
    configs=CONFIGS,
    compare=Compare(
        metric="train_error", figure="curves", curves=("train_error",), target=TARGET, target_metric="train_error"
    ),
    recipe="resnet-cifar",
    # the figure's conditions: no regularisation of any kind, a fixed learning rate
    overrides={"augment": "", "weight_decay": 0.0, "schedule": "constant", "lr": 0.02, "momentum": 0.9},
    budgets={
        "quick": Budget(
            epochs=7,
            note="7 epochs of the 45,000 training images, both networks at lr 0.02 (the "
            "paper tuned each network's rate; we use one)",
        ),
        "full": Budget(epochs=40, note="40 epochs (Fig. 1 plots 35)"),
    },
    verdict=verdict,
    notes="`cifar_convnet4`: three 5x5 conv-activation-max-pool stages (32-32-64 filters) and a linear layer, no "
    "batch norm or dropout (the paper does not give its four-layer network's sizes).",
)
