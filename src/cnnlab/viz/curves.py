"""Training curves: loss and accuracy per epoch, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(metrics: list[dict], path: str | Path, title: str = "") -> Path:
    """Two panels: train/held-out loss and train/held-out top-1 accuracy against epoch."""
    epochs = [m["epoch"] for m in metrics]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    ax_loss.plot(epochs, [m["val_loss"] for m in metrics], "s-", label="held-out")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.plot(epochs, [m["train_top1"] for m in metrics], "o-", label="train")
    ax_acc.plot(epochs, [m["val_top1"] for m in metrics], "s-", label="held-out")
    best = max(metrics, key=lambda m: m["val_top1"])
    ax_acc.annotate(f"{best['val_top1']:.2f}%", (best["epoch"], best["val_top1"]), textcoords="offset points",
                    xytext=(0, -14), ha="center")
    ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
