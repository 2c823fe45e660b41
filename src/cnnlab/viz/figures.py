"""The pictures: every function takes arrays computed elsewhere in viz/ and writes one PNG
(matplotlib, Agg, written atomically). No model is touched here."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from ..runs import atomic_write_bytes  # noqa: E402
from .filters import normalise_each  # noqa: E402

DPI = 110


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # the temporary file behind the atomic write was private (0600)
    return path


def _show_image(ax, image: np.ndarray, title: str = "") -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def mosaic(tiles: np.ndarray, cols: int, pad: float = np.nan) -> np.ndarray:
    """``n x h x w [x 3]`` tiles -> one image, ``cols`` per row, 1-pixel gaps filled with ``pad``."""
    n, h, w = tiles.shape[:3]
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1, *tiles.shape[3:]), pad, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = tiles[i]
    return out


def plot_filters(
    kernels: np.ndarray, path: str | Path, layer: str, title: str = "", max_filters: int = 64, max_inputs: int = 32
) -> Path:
    """RGB (3 input channels) or grey (1) tiles, one per filter, each contrast-stretched to its own
    range; other layers as a grid of filters (rows) x input channels (columns)."""
    out_ch, in_ch, kh, kw = kernels.shape
    shown = kernels[:max_filters]
    if in_ch in (1, 3):
        tiles = normalise_each(shown)
        tiles = tiles.transpose(0, 2, 3, 1) if in_ch == 3 else tiles[:, 0]
        rows = max(1, round(math.sqrt(len(tiles) / 1.6)))
        cols = math.ceil(len(tiles) / rows)
        img = mosaic(tiles, cols, pad=1.0)
        width = max(6.0, min(12.0, 0.9 * cols))
        fig, ax = plt.subplots(figsize=(width, width * img.shape[0] / img.shape[1] + 1.2))
        ax.imshow(
            img if in_ch == 3 else img, cmap=None if in_ch == 3 else "gray", vmin=0, vmax=1, interpolation="nearest"
        )
        kind = "RGB" if in_ch == 3 else "grey"
        sub = f"{layer}: {len(tiles)} of {out_ch} filters, {kh}x{kw}, {kind}\neach filter stretched to its own range"
    else:
        shown = shown[:, :max_inputs]
        tiles = normalise_each(shown.reshape(-1, 1, kh, kw))[:, 0]
        img = mosaic(tiles, shown.shape[1], pad=1.0)
        fig, ax = plt.subplots(
            figsize=(
                min(14, 1.2 + 0.35 * shown.shape[1] * max(kw, 3) / 3),
                min(14, 1.2 + 0.35 * shown.shape[0] * max(kh, 3) / 3),
            )
        )
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel(f"input channel (first {shown.shape[1]} of {in_ch})")
        ax.set_ylabel(f"filter (first {shown.shape[0]} of {out_ch})")
        sub = f"{layer}: {out_ch} filters x {in_ch} input channels, {kh}x{kw}; each kernel stretched to its own range"
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title}\n{sub}" if title else sub, fontsize=9)
    fig.tight_layout()
    return save(fig, path)


def _strongest(maps: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` channels with the largest mean absolute activation, in channel order."""
    energy = np.abs(maps).reshape(maps.shape[0], -1).mean(axis=1)
    return np.sort(np.argsort(-energy, kind="stable")[:k])


def plot_features(
    image: np.ndarray,
    maps: dict[str, np.ndarray],
    path: str | Path,
    title: str = "",
    max_channels: int = 64,
    notes: list[str] | None = None,
) -> Path:
    """The input as the model sees it, then one mosaic per layer (its most active channels, one
    colour scale per layer with a colour bar), titled with the layer name and shape."""
    n = len(maps) + 1
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.6 * rows), squeeze=False)
    flat = axes.ravel()
    _show_image(
        flat[0],
        image,
        "input as the model sees it\n" + "; ".join(notes or []) if notes else "input as the model sees it",
    )
    for ax, (name, m) in zip(flat[1:], maps.items()):
        c, h, w = m.shape
        if h * w == 1:  # a vector: one bar of values
            idx = np.arange(min(c, max_channels * 4))
            ax.bar(idx, m[idx, 0, 0], width=1.0, color="tab:blue")
            ax.set(xlabel="channel", ylabel="activation")
            ax.set_title(f"{name}  {c}x{h}x{w}" + (f" (first {len(idx)})" if len(idx) < c else ""), fontsize=10)
            continue
        idx = _strongest(m, max_channels)
        tiles = m[idx]
        img = mosaic(tiles, math.ceil(math.sqrt(len(idx))))
        lim = float(np.nanmax(np.abs(tiles))) or 1.0
        signed = tiles.min() < 0
        im = ax.imshow(
            img, cmap="RdBu_r" if signed else "viridis", vmin=-lim if signed else 0, vmax=lim, interpolation="nearest"
        )
        shown = f"{len(idx)} most active of {c} channels" if len(idx) < c else f"all {c} channels"
        ax.set_title(f"{name}  {c}x{h}x{w}\n{shown}", fontsize=10)
        ax.axis("off")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    for ax in flat[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    return save(fig, path)


def plot_heatmap(
    image: np.ndarray,
    heat: np.ndarray,
    path: str | Path,
    title: str,
    heat_title: str,
    label: str,
    cmap: str = "jet",
    vmin: float = 0.0,
    vmax: float = 1.0,
    alpha: float = 0.5,
    interpolation: str = "bilinear",
) -> Path:
    """Three panels: the input, the map with a colour bar, the map over the input."""
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.4))
    _show_image(axes[0], image, "input as the model sees it")
    im = axes[1].imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, interpolation=interpolation)
    axes[1].set_title(heat_title, fontsize=10)
    axes[1].axis("off")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.03, label=label)
    grey = image.mean(axis=-1) if image.shape[-1] == 3 else image[..., 0]
    axes[2].imshow(
        image if image.shape[-1] == 3 else grey,
        cmap=None if image.shape[-1] == 3 else "gray",
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    axes[2].imshow(heat, cmap=cmap, vmin=vmin, vmax=vmax, alpha=alpha, interpolation=interpolation)
    axes[2].set_title("overlay", fontsize=10)
    axes[2].axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)


def plot_embedding(
    coords: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    path: str | Path,
    title: str,
    thumbnails: np.ndarray | None = None,
    n_thumbs: int = 12,
    seed: int = 0,
) -> Path:
    """Points coloured by class with a legend, and a few of the images drawn at their points."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    fig, ax = plt.subplots(figsize=(9, 7.5))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        sel = labels == k
        if sel.any():
            ax.scatter(coords[sel, 0], coords[sel, 1], s=7, alpha=0.7, color=cmap(k % cmap.N), label=name)
    if thumbnails is not None and len(coords):
        rng = np.random.default_rng(seed)  # one random image per class, as many classes as n_thumbs allows
        picks = [int(rng.choice(np.flatnonzero(labels == k))) for k in range(len(classes)) if (labels == k).any()]
        for i in picks[:n_thumbs]:
            t = thumbnails[i]
            box = OffsetImage(
                t[..., 0] if t.shape[-1] == 1 else t,
                zoom=1.0 if t.shape[0] >= 28 else 1.5,
                cmap="gray" if t.shape[-1] == 1 else None,
            )
            ax.add_artist(
                AnnotationBbox(
                    box,
                    coords[i],
                    frameon=True,
                    pad=0.1,
                    bboxprops=dict(edgecolor=cmap(int(labels[i]) % cmap.N), lw=1.5),
                )
            )
    ax.legend(markerscale=3, fontsize=8, loc="best", ncol=1 if len(classes) <= 12 else 2)
    ax.set_title(title, fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return save(fig, path)


def plot_receptive_field(image: np.ndarray, view, path: str | Path, title: str) -> Path:
    """Left: the theoretical field (box) and the unit's centre on the input; right: the effective
    field (gradient magnitude) with the same box."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.8))
    top, left, bottom, right = view.box
    h, w = view.effective.shape
    _show_image(axes[0], image, f"theoretical: {view.size[0]}x{view.size[1]} px, jump {view.jump[0]}")
    im = axes[1].imshow(view.effective, cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title(f"effective: |d unit / d input|\n95% of it within {view.effective_extent():.0f} px", fontsize=10)
    axes[1].axis("off")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.03, label="relative gradient magnitude")
    for ax in axes:
        # pixel edges are at -0.5 .. w-0.5 in imshow coordinates
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                right - left,
                bottom - top,
                fill=False,
                lw=2,
                edgecolor="tab:cyan",
                linestyle="--",
            )
        )
        ax.plot([(left + right) / 2 - 0.5], [(top + bottom) / 2 - 0.5], "+", color="tab:cyan", ms=12, mew=2)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
    if view.size[0] > h or view.size[1] > w:
        axes[0].set_xlabel("the field is larger than the image: the box reaches past it", fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return save(fig, path)
