"""Training curves: loss, accuracy and learning rate per epoch, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(metrics: list[dict], path: str | Path, title: str = "") -> Path:
    """Three panels: train/val loss, train/val top-1 (and val top-5), learning rate; the final test
    result, when training ended with one, as a separate marker labelled "test".

    Run folders of older versions (without test fields, or without a validation split) plot too.
    """
    epochs = [m["epoch"] for m in metrics]
    evaluated = [m for m in metrics if m.get("val_top1") is not None]  # --eval-every skips some epochs
    tested = [m for m in metrics if m.get("test_top1") is not None]
    ev_epochs = [m["epoch"] for m in evaluated]
    has_lr = all("lr" in m for m in metrics)
    fig, axes = plt.subplots(1, 3 if has_lr else 2, figsize=(14 if has_lr else 10, 4))
    ax_loss, ax_acc = axes[0], axes[1]
    ax_loss.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    if evaluated:
        ax_loss.plot(ev_epochs, [m["val_loss"] for m in evaluated], "s-", label="val")
    ax_acc.plot(epochs, [m["train_top1"] for m in metrics], "o-", label="train top-1")
    if evaluated:
        ax_acc.plot(ev_epochs, [m["val_top1"] for m in evaluated], "s-", label="val top-1")
        if all(m.get("val_top5") is not None for m in evaluated):
            ax_acc.plot(ev_epochs, [m["val_top5"] for m in evaluated], "^--", alpha=0.6, label="val top-5")
        best = max(evaluated, key=lambda m: m["val_top1"])
        ax_acc.annotate(f"{best['val_top1']:.2f}%", (best["epoch"], best["val_top1"]), textcoords="offset points",
                        xytext=(0, -14), ha="center")
    for m in tested:
        ax_loss.plot([m["epoch"]], [m["test_loss"]], "*", color="tab:red", markersize=12, label="test (once)")
        ax_acc.plot([m["epoch"]], [m["test_top1"]], "*", color="tab:red", markersize=12, label="test top-1 (once)")
        ax_acc.annotate(f"test {m['test_top1']:.2f}%", (m["epoch"], m["test_top1"]), textcoords="offset points",
                        xytext=(0, 8), ha="right", color="tab:red")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if has_lr:
        ax_lr = axes[2]
        ax_lr.plot(epochs, [m["lr"] for m in metrics], "o-", color="tab:green")
        ax_lr.set(xlabel="epoch", ylabel="learning rate (end of epoch)", title="learning rate")
        if min(m["lr"] for m in metrics) > 0 and max(m["lr"] for m in metrics) / min(m["lr"] for m in metrics) > 50:
            ax_lr.set_yscale("log")
        ax_lr.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path


def save_png(fig, path: Path, dpi: int = 110) -> None:
    """Save a figure as PNG through the run folders' atomic writer (readable 0644 file)."""
    import io

    from ..runs import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
