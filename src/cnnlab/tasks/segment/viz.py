"""Segmentation pictures (PNG, matplotlib Agg): colour masks, overlays, prediction grids, the confusion matrix.

Class colours are the data set's (``classes.txt`` colours) or PASCAL VOC's colour map (class 0 black,
then the bit-interleaved colours VOC's masks use); ignored pixels (255) are drawn white.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .metrics import IGNORE_INDEX


def voc_colormap(n: int) -> np.ndarray:
    """``n x 3`` uint8: PASCAL VOC's colours (the bits of the class index spread over R, G and B)."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


def palette_for(num_classes: int, palette=None) -> np.ndarray:
    """256 x 3 uint8 colour table: the given class colours (else VOC's), 255 white."""
    table = voc_colormap(256)
    if palette:
        table[: len(palette)] = np.asarray(palette, np.uint8)
    table[IGNORE_INDEX] = 255
    return table


def colorize(mask: np.ndarray, table: np.ndarray) -> np.ndarray:
    """H x W class indices -> H x W x 3 uint8 colours."""
    return table[mask.astype(np.intp)]


def overlay(image: np.ndarray, mask: np.ndarray, table: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """H x W x C uint8 image with the coloured mask blended over it (class 0, the background, left clear)."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    colour = colorize(mask, table).astype(np.float32)
    a = np.where((mask != 0) & (mask != IGNORE_INDEX), alpha, 0.0)[..., None]
    return (rgb.astype(np.float32) * (1 - a) + colour * a).round().clip(0, 255).astype(np.uint8)


def _legend(ax, classes: list[str], table: np.ndarray, present: list[int]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=table[i] / 255.0, label=classes[i]) for i in present]
    if handles:
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)


def save_prediction(
    path: Path, image: np.ndarray, pred: np.ndarray, classes: list[str], table: np.ndarray, title: str
) -> Path:
    """Image | prediction overlay, with a legend of the predicted classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...viz.curves import save_png

    h, w = pred.shape
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6 * h / max(w, 1) + 0.6))
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    axes[0].imshow(rgb, interpolation="nearest")
    axes[0].set_title(title, fontsize=8)
    axes[1].imshow(overlay(image, pred, table), interpolation="nearest")
    axes[1].set_title("predicted classes", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    _legend(axes[1], classes, table, [int(v) for v in np.unique(pred) if v != IGNORE_INDEX])
    fig.tight_layout()
    save_png(fig, path, dpi=120)
    plt.close(fig)
    return path


def save_examples(
    path: Path,
    images: np.ndarray,
    masks: np.ndarray,
    preds: np.ndarray,
    classes: list[str],
    table: np.ndarray,
    title: str,
    per_row: int = 4,
) -> Path:
    """A grid of image / true mask / predicted mask triples (images N x H x W x C)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...viz.curves import save_png

    n = len(images)
    rows = -(-n // per_row)
    fig, axes = plt.subplots(rows, 3 * per_row, figsize=(1.55 * 3 * per_row + 1.6, 1.7 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k in range(n):
        r, c = divmod(k, per_row)
        img = np.repeat(images[k], 3, axis=-1) if images[k].shape[-1] == 1 else images[k]
        for j, (pic, name) in enumerate(
            ((img, "image"), (colorize(masks[k], table), "truth"), (colorize(preds[k], table), "predicted"))
        ):
            ax = axes[r][3 * c + j]
            ax.imshow(pic, interpolation="nearest")
            ax.set_title(name, fontsize=7)
    present = sorted({int(v) for m in (masks, preds) for v in np.unique(m) if v != IGNORE_INDEX})
    _legend(axes[0][-1], classes, table, present)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path


def save_confusion(path: Path, cm: np.ndarray, classes: list[str], ious: list[float | None], title: str) -> Path:
    """Row-normalised pixel confusion matrix (square-root colour scale), each true class's IoU (``ious``, in
    percent; None for a class absent from truth and prediction) on its row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import PowerNorm

    from ...viz.curves import save_png

    k = len(classes)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    side = min(20.0, max(5.5, 0.4 * k + 2.5))
    fig, ax = plt.subplots(figsize=(side + 1.8, side))
    im = ax.imshow(norm, cmap="Blues", norm=PowerNorm(0.5, vmin=0, vmax=1), interpolation="nearest")
    font = max(5.0, min(9.0, 400 / max(k, 1)))
    labels = [f"{c} (IoU {v:.1f})" if v is not None else f"{c} (absent)" for c, v in zip(classes, ious)]
    ax.set_xticks(range(k), classes, rotation=90, fontsize=font)
    ax.set_yticks(range(k), labels, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (its IoU, %)")
    if k <= 16:
        for i in range(k):
            for j in range(k):
                if norm[i, j] >= 0.005:
                    ax.text(
                        j,
                        i,
                        f"{100 * norm[i, j]:.0f}",
                        ha="center",
                        va="center",
                        fontsize=font * 0.85,
                        color="white" if norm[i, j] > 0.3 else "black",
                    )
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    cbar.set_label("fraction of the true class's pixels (%, square-root scale)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=110)
    plt.close(fig)
    return path
