"""Training curves: loss, accuracy and learning rate per epoch, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(metrics: list[dict], path: str | Path, title: str = "", monitor: str = "top1") -> Path:
    """Three panels: train/val loss, train/val top-1 (and val top-5), learning rate; the final test
    result, when training ended with one, as a separate marker labelled "test".

    ``monitor`` is the task's headline number (``top1`` for classification; e.g. ``miou``): the middle
    panel plots it. Run folders of older versions (without test fields, or without a validation split)
    plot too.
    """
    top1 = monitor == "top1"
    name, fmt = ("top-1", "{:.2f}%") if top1 else (monitor, "{:.4g}")
    epochs = [m["epoch"] for m in metrics]
    evaluated = [m for m in metrics if m.get(f"val_{monitor}") is not None]  # --eval-every skips some epochs
    tested = [m for m in metrics if m.get(f"test_{monitor}") is not None]
    ev_epochs = [m["epoch"] for m in evaluated]
    has_lr = all("lr" in m for m in metrics)
    fig, axes = plt.subplots(1, 3 if has_lr else 2, figsize=(14 if has_lr else 10, 4))
    ax_loss, ax_acc = axes[0], axes[1]
    ax_loss.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="train")
    if evaluated:
        ax_loss.plot(ev_epochs, [m["val_loss"] for m in evaluated], "s-", label="val")
    if all(f"train_{monitor}" in m for m in metrics):
        ax_acc.plot(epochs, [m[f"train_{monitor}"] for m in metrics], "o-", label=f"train {name}")
    if evaluated:
        ax_acc.plot(ev_epochs, [m[f"val_{monitor}"] for m in evaluated], "s-", label=f"val {name}")
        if top1 and all(m.get("val_top5") is not None for m in evaluated):
            ax_acc.plot(ev_epochs, [m["val_top5"] for m in evaluated], "^--", alpha=0.6, label="val top-5")
        best = max(evaluated, key=lambda m: m[f"val_{monitor}"])
        ax_acc.annotate(
            fmt.format(best[f"val_{monitor}"]),
            (best["epoch"], best[f"val_{monitor}"]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
        )
    for m in tested:
        ax_loss.plot([m["epoch"]], [m["test_loss"]], "*", color="tab:red", markersize=12, label="test (once)")
        ax_acc.plot(
            [m["epoch"]], [m[f"test_{monitor}"]], "*", color="tab:red", markersize=12, label=f"test {name} (once)"
        )
        ax_acc.annotate(
            f"test {fmt.format(m[f'test_{monitor}'])}",
            (m["epoch"], m[f"test_{monitor}"]),
            textcoords="offset points",
            xytext=(0, 8),
            ha="right",
            color="tab:red",
        )
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss" if top1 else "loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)" if top1 else monitor, title="accuracy" if top1 else monitor)
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
