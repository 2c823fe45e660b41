"""A linear classifier's weights as class templates (lecture 004, "Linear Classifier": "the ship template
contains a lot of blue pixels as expected").

Each row of ``W`` (one class) has one weight per pixel and channel, so it reshapes to an image: the
score ``w_k . x`` is the match of the image with that template. Each template is min-max scaled on its
own to 0-255 for display (a weight's sign and size only mean something relative to the others of its
class). Works for any run whose model is ``linear`` on pixels: ``cnnlab features train --features
pixels`` or ``cnnlab train linear``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError


def class_templates(run_dir) -> tuple[np.ndarray, list[str]]:
    """``K x H x W x C`` uint8 templates and the class names of a linear run."""
    from ..runs import load_run

    run = load_run(run_dir)
    model = run.model
    if getattr(run.meta, "get", None) and run.meta.get("features", "pixels") != "pixels":
        raise CnnlabError(
            f"{run_dir}: this linear model reads {run.meta['features']} features, not pixels, so its "
            "weights are not images",
            "train on pixels: cnnlab features train --features pixels",
        )
    if not hasattr(model, "templates"):
        raise CnnlabError(
            f"{run_dir}: the model is {run.meta.get('model')}, not a linear classifier",
            "class templates are the weights of `linear` (cnnlab features train --features pixels)",
        )
    w = model.templates()  # raises for an MLP
    if w.shape[-1] == 1 and w.shape[-2] == 1:
        raise CnnlabError(f"{run_dir}: the model's input is a feature vector, its weights are not images")
    w = w.to(torch.float64)
    lo = w.amin(dim=(1, 2, 3), keepdim=True)
    hi = w.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (w - lo) / (hi - lo).clamp_min(1e-12) * 255
    return scaled.round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), list(run.classes)


def plot_templates(run_dir, out) -> Path:
    """All class templates side by side (two rows for more than 5 classes), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runs import atomic_write_bytes

    images, classes = class_templates(run_dir)
    k = len(images)
    cols = k if k <= 5 else (k + 1) // 2
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < k:
            im = images[i]
            ax.imshow(
                im[:, :, 0] if im.shape[2] == 1 else im,
                cmap="gray" if im.shape[2] == 1 else None,
                interpolation="nearest",
            )
            ax.set_title(str(classes[i]), fontsize=9)
    fig.suptitle("linear classifier weights as class templates (each scaled to its own min/max)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    out = Path(out)
    atomic_write_bytes(out, buf.getvalue())
    return out
