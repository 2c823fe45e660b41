"""Detections drawn on their image: a coloured box per object with its class and score (PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def draw_detections(
    image: np.ndarray,
    boxes,
    labels,
    scores,
    classes: list[str],
    path: str | Path | None = None,
    truth=None,
    title: str = "",
    ax=None,
):
    """``image`` H x W x C uint8 (C = 1 or 3); ``boxes`` K x 4 corners in its pixels. Ground truth
    (``truth``: boxes, labels), when given, is drawn dashed in white under the detections. Saves a
    PNG to ``path`` (atomically) and returns the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    own = ax is None
    if own:
        h, w = image.shape[:2]
        scale = max(1.0, 480 / max(h, w))
        fig, ax = plt.subplots(figsize=(w * scale / 100, h * scale / 100), dpi=100)
        fig.subplots_adjust(0, 0, 1, 1 if not title else 0.93)
    else:
        fig = ax.figure
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    if truth is not None:
        for b in np.asarray(truth[0], dtype=float).reshape(-1, 4):
            ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="white", lw=1, ls="--"))
    order = np.argsort(np.asarray(scores, dtype=float), kind="stable")  # the best drawn last, on top
    boxes, labels, scores = (np.asarray(v)[order] if len(order) else np.asarray(v) for v in (boxes, labels, scores))
    for b, c, s in zip(
        np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(labels).tolist(), np.asarray(scores).tolist()
    ):
        colour = colours(int(c) % colours.N)
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec=colour, lw=1.6))
        ax.text(
            b[0],
            b[1],
            f"{classes[int(c)]} {s:.2f}",
            fontsize=7,
            color="black",
            va="bottom",
            bbox=dict(facecolor=colour, edgecolor="none", pad=1, alpha=0.85),
        )
    if own and path is not None:
        save_png(fig, Path(path))
        plt.close(fig)
    return fig


def save_png(fig, path: Path) -> Path:
    import io

    from ...runs import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def detection_grid(
    images: list[np.ndarray],
    detections: list[dict],
    truths: list,
    classes: list[str],
    path: str | Path,
    columns: int = 4,
    title: str = "",
) -> Path:
    """Several images with their detections (and dashed ground truth) in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.6 * rows + (0.3 if title else 0)), dpi=110, squeeze=False
    )
    for ax in axes.flat[len(images) :]:
        ax.set_axis_off()
    for ax, im, d, t in zip(axes.flat, images, detections, truths):
        draw_detections(im, d["boxes"], d["labels"], d["scores"], classes, truth=t, ax=ax)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_png(fig, Path(path))
    plt.close(fig)
    return Path(path)
