"""Heat-map pictures: one overlay per scored image, and the evaluation grid (PNG, matplotlib Agg).

Colours are on one scale for every image of a detector: from the median of the normal validation
maps (transparent) to twice the threshold's distance above it (red); the white outline marks the
pixels above the pixel threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _scaled(heat: np.ndarray, meta: dict) -> np.ndarray:
    low, thr = meta["map_low"], meta["pixel_threshold"]
    return np.clip((heat - low) / max(2 * (thr - low), 1e-12), 0, 1)


def _draw(ax, image: np.ndarray, heat: np.ndarray | None, meta: dict, mask: np.ndarray | None = None) -> None:
    import matplotlib.pyplot as plt

    img = image.transpose(1, 2, 0)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
    if heat is not None:
        v = _scaled(heat, meta)
        rgba = plt.get_cmap("jet")(v)
        rgba[..., 3] = 0.6 * np.clip(v * 2, 0, 1)
        ax.imshow(rgba)
        if (heat > meta["pixel_threshold"]).any():
            ax.contour(heat > meta["pixel_threshold"], levels=[0.5], colors="white", linewidths=1.0)
    if mask is not None and mask.any():
        ax.contour(mask, levels=[0.5], colors="lime", linewidths=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def save_overlay(path: Path, image: np.ndarray, heat: np.ndarray, score: float, meta: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
    _draw(axes[0], image, None, meta)
    axes[0].set_title(title, fontsize=9)
    _draw(axes[1], image, heat, meta)
    verdict = "ANOMALOUS" if score > meta["image_threshold"] else "normal"
    axes[1].set_title(f"score {score:.3g} (threshold {meta['image_threshold']:.3g}): {verdict}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_grid(
    path: Path,
    images: np.ndarray,
    heats: np.ndarray,
    masks: np.ndarray,
    labels: list[str],
    scores: np.ndarray,
    meta: dict,
    per_group: int = 3,
) -> None:
    """Rows: up to ``per_group`` test images of each group (good, then each defect), three columns
    each: image, heat map with the threshold outline (white) and the true mask (green)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = ["good"] + sorted({g for g in labels if g != "good"})
    chosen = [i for g in groups for i in [j for j, lab in enumerate(labels) if lab == g][:per_group]]
    cols = 2 * per_group
    rows = len(groups)
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, g in enumerate(groups):
        members = [i for i in chosen if labels[i] == g]
        for c, i in enumerate(members):
            a, b = axes[r][2 * c], axes[r][2 * c + 1]
            a.axis("on")
            b.axis("on")
            _draw(a, images[i], None, meta)
            _draw(b, images[i], heats[i], meta, masks[i])
            a.set_title(g, fontsize=8)
            b.set_title(f"{scores[i]:.3g}" + (" !" if scores[i] > meta["image_threshold"] else ""), fontsize=8)
    fig.suptitle(
        f"{meta['method']} on {meta['backbone']['model']} (test split): heat map, white = above "
        f"threshold, green = true defect; '!' = flagged",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
