"""The evaluation pictures: confusion matrix, reliability diagram, most confidently wrong images."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402

from ..viz.curves import save_png  # noqa: E402
from .metrics import Reliability, row_normalised  # noqa: E402


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (colour: fraction of each true class), classes sorted by recall
    (best first, so the weakest classes and their confusions gather at the bottom right); counts
    written in the cells up to 20 classes; tick labels shrink with the class count (readable at 100)."""
    k = len(classes)
    norm = row_normalised(cm)
    order = np.argsort(-np.diag(norm), kind="stable")
    norm, counts = norm[np.ix_(order, order)], cm[np.ix_(order, order)]
    names = [classes[i] for i in order]
    side = min(22.0, max(6.0, 0.22 * k + 3))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    # a square-root colour scale: a 2% confusion stays visible next to a 98% diagonal
    im = ax.imshow(norm, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    font = max(6.0, min(10.0, 500 / max(k, 1)))  # 100 classes: 6 pt on 0.2-inch rows
    ax.set_xticks(range(k), names, rotation=90, fontsize=font)
    ax.set_yticks(range(k), names, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (sorted by recall, best first)")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{counts[i, j]:,}",
                        ha="center",
                        va="center",
                        fontsize=font * 0.9,
                        color="white" if norm[i, j] > 0.3 else "black",
                    )
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cbar.set_label("fraction of the true class (square-root scale)")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(
        (title + "\n" if title else "") + f"confusion matrix, row-normalised (top-1 {100 * acc:.2f}%)", fontsize=10
    )
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(rel: Reliability, path: Path, title: str = "") -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration,
    the gap shaded, and the number of images per bin underneath."""
    bins = len(rel.count)
    width = 1 / bins
    centres = rel.edges[:-1] + width / 2
    has = rel.count > 0
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(6, 7), height_ratios=[3, 1], sharex=True)
    ax.bar(centres[has], rel.accuracy[has], width=width, edgecolor="black", color="tab:blue", label="accuracy")
    gap_lo = np.minimum(rel.accuracy, rel.confidence)[has]
    ax.bar(
        centres[has],
        np.abs(rel.confidence - rel.accuracy)[has],
        bottom=gap_lo,
        width=width,
        color="tab:red",
        alpha=0.35,
        edgecolor="tab:red",
        hatch="//",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy in the bin")
    ax.set_title(
        (title + "\n" if title else "") + f"reliability diagram: ECE {100 * rel.ece:.2f}% ({bins} bins)", fontsize=10
    )
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    ax_n.bar(centres, rel.count, width=width, color="grey", edgecolor="black")
    ax_n.set(xlabel="confidence (top-1 probability)", ylabel="images")
    ax_n.set_yscale("log" if rel.count.max(initial=0) > 50 * max(rel.count[has].min(initial=1), 1) else "linear")
    ax_n.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_top_losses(result, path: Path, n: int = 16, title: str = "") -> Path:
    """The ``n`` most confidently wrong images, each titled true / predicted class and its probability."""
    idx = result.top_losses(n)
    cols = 4 if len(idx) > 4 else max(len(idx), 1)
    rows = max(1, -(-len(idx) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 3.2 * rows + 0.6), squeeze=False)
    images = result.images.images
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, idx):
        img = images[i].numpy()
        if img.shape[0] == 1:
            ax.imshow(img[0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(img.transpose(1, 2, 0))
        r = result._row(i)
        ax.set_title(
            f"#{i}  true {r['true']}\npred {r['predicted']} {100 * r['probability']:.1f}%\nloss {r['loss']:.2f}",
            fontsize=8,
        )
    if not idx:
        axes.flat[0].text(0.5, 0.5, "no misclassified image", ha="center", va="center")
    fig.suptitle((title + "\n" if title else "") + f"the {len(idx)} most confidently wrong images", fontsize=10)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path
