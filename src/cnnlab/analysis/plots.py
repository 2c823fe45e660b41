"""The lectures' figures drawn from the analyzer (matplotlib, Agg, PNG).

- :func:`plot_layers`: lecture 004's per-layer bars for AlexNet / VGG-16 ("most of the memory is in the
  early convolution layers, most parameters in the fully connected layers, most floating-point
  operations in the convolution layers"): activation memory (KB), parameters and multiply-adds per
  conv / pool / fc layer.
- :func:`plot_canziani`: Canziani, Paszke & Culurciello (2016), "An analysis of deep neural network
  models for practical applications", Fig. 2: x = multiply-adds per image, y = top-1 accuracy,
  bubble area = parameters; each model labelled with its own input size.
"""

from __future__ import annotations

import math

from ..errors import CnnlabError
from .records import Summary

LAYER_KINDS = ("conv", "linear", "pool")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> str:
    import io
    from pathlib import Path

    from ..runs import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(Path(path), buf.getvalue())
    return str(path)


def layer_rows(s: Summary):
    """The rows lecture 004 tabulates: convolutions, pooling and fully connected layers."""
    return [r for r in s.layers if r.layer_kind in LAYER_KINDS and r.kind == "module"]


def _short_name(r) -> str:
    return r.name.replace("features.", "f").replace("classifier.", "c")


def plot_layers(s: Summary, path) -> str:
    """Three bar charts, one bar per conv / pool / fc layer: memory (KB), parameters, MACs."""
    rows = layer_rows(s)
    if not rows:
        raise CnnlabError(f"{s.model} has no conv, pool or fully connected layer to plot")
    plt = _pyplot()
    names = [_short_name(r) for r in rows]
    colours = [
        "#4c72b0" if r.layer_kind == "conv" else "#dd8452" if r.layer_kind == "linear" else "#8c8c8c" for r in rows
    ]
    series = [
        ("activation memory (KB, float32)", [r.lecture_bytes / 1024 / s.batch for r in rows]),
        ("parameters", [r.params for r in rows]),
        ("multiply-adds (MACs)", [r.macs / s.batch for r in rows]),
    ]
    fig, axes = plt.subplots(3, 1, figsize=(max(7.0, 0.38 * len(rows) + 2), 8.5), sharex=True)
    for ax, (title, vals) in zip(axes, series, strict=True):
        ax.bar(range(len(rows)), vals, color=colours)
        total = sum(vals)
        ax.set_title(
            f"{title}: total " + (f"{total:,.0f} KB" if "KB" in title else _human(total)), fontsize=10, loc="left"
        )
        ax.grid(axis="y", alpha=0.3)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 3))
    axes[-1].set_xticks(range(len(rows)))
    axes[-1].set_xticklabels(names, rotation=60, ha="right", fontsize=8)
    from matplotlib.patches import Patch

    axes[0].legend(
        handles=[
            Patch(color="#4c72b0", label="conv"),
            Patch(color="#8c8c8c", label="pool"),
            Patch(color="#dd8452", label="fc"),
        ],
        fontsize=8,
        loc="upper right",
    )
    size = "x".join(map(str, s.input_size))
    fig.suptitle(
        f"{s.model} per layer, input {size} (lecture 004)\nmemory in the early convs, parameters in the "
        "fc layers, multiply-adds in the convs",
        fontsize=10,
    )
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def _human(v: float) -> str:
    from .render import human

    return human(v)


def plot_canziani(summaries: list[Summary], path) -> str:
    """Top-1 (y) against multiply-adds per image (x, log), bubble area proportional to parameters."""
    placed = [s for s in summaries if s.card and s.card.get("top1")]
    missing = [f"{s.model} (no top-1)" for s in summaries if s not in placed]
    if placed:  # one accuracy axis: the data set most of the models report on
        sets = [s.card.get("dataset", "ImageNet-1k") for s in placed]
        dataset = max(set(sets), key=sets.count)
        missing += [f"{s.model} ({d})" for s, d in zip(placed, sets, strict=True) if d != dataset]
        placed = [s for s, d in zip(placed, sets, strict=True) if d == dataset]
    if not placed:
        raise CnnlabError(
            "none of these models has a reported top-1 accuracy on its card",
            "compare registered ImageNet models, e.g. alexnet vgg16 googlenet resnet50",
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    biggest = max(s.params.total for s in placed)
    labels: list[tuple[float, float]] = []
    for s in sorted(placed, key=lambda s: s.macs):
        x, y = s.macs / s.batch / 1e9, float(s.card["top1"])
        area = 2500 * s.params.total / biggest
        ax.scatter([x], [y], s=max(area, 12), alpha=0.5, edgecolors="black", linewidths=0.6)
        size = s.input_size[-1] if s.input_size[-1] == s.input_size[-2] else "x".join(map(str, s.input_size[1:]))
        # a label near an earlier one goes to the right of its bubble instead of above
        near = any(abs(math.log10(x) - lx) < 0.25 and abs(y - ly) < 1.5 for lx, ly in labels)
        labels.append((math.log10(x), y))
        r = math.sqrt(max(area, 12)) / 2  # bubble radius in points
        ax.annotate(
            f"{s.model} ({size})",
            (x, y),
            textcoords="offset points",
            xytext=(r + 3, -3) if near else (0, r + 4),
            fontsize=8,
            ha="left" if near else "center",
        )
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("multiply-adds per image (G MACs, log scale), each model at its own input size")
    ax.set_ylabel(f"reported {dataset} top-1 accuracy (%)")
    ref = max(placed, key=lambda s: s.params.total)
    ax.set_title(
        f"accuracy vs operations; bubble area ~ parameters (largest: {ref.model}, {ref.params.total / 1e6:.1f} M)",
        fontsize=10,
    )
    if missing:
        fig.text(0.01, 0.01, f"not drawn (no {dataset} top-1): " + ", ".join(missing), fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ax.margins(x=0.15, y=0.12)
    fig.tight_layout()
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
