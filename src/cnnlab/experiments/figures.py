"""figure.png of an experiment: the lecture figure's equivalent, from the runs' metrics.

- ``curves``: one panel per configuration group (e.g. plain | ResNet, as He et al. Fig. 6), each
  configuration's error per epoch (training solid, held-out dashed), mean over seeds drawn from
  the first seed's epochs; a horizontal line at the target when there is one;
- ``xy``: the final metric against ``Config.x`` (label budget, data fraction), one line per group;
- ``macs``: the final metric against the analyzer's multiply-adds, one line per group.
"""

from __future__ import annotations

import statistics
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from ..viz.overlay import draw_runs  # noqa: E402
from .results import ConfigResult  # noqa: E402
from .spec import Experiment  # noqa: E402

NAMES = {
    "train_error": "training error (%)",
    "val_error": "held-out error (%)",
    "test_error": "test error (%)",
    "train_loss": "training loss",
    "val_loss": "held-out loss",
}


def mean_metrics(result: ConfigResult) -> list[dict]:
    """Per-epoch records averaged over the seeds (epochs all seeds have)."""
    runs = [r.metrics for r in result.runs]
    n = min(len(m) for m in runs)
    out = []
    for i in range(n):
        rec = {"epoch": runs[0][i]["epoch"]}
        for key in ("train_top1", "val_top1", "test_top1", "train_loss", "val_loss", "seconds", "eval_seconds"):
            values = [m[i].get(key) for m in runs]
            rec[key] = statistics.fmean(values) if all(v is not None for v in values) else None
        out.append(rec)
    return out


def plot_experiment(exp: Experiment, results: dict[str, ConfigResult], path: Path, budget: str) -> Path:
    cmp = exp.compare
    if cmp.figure == "curves":
        groups: dict[str, list[ConfigResult]] = {}
        for r in results.values():
            groups.setdefault(r.config.group, []).append(r)
        fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.6), sharey=True, squeeze=False)
        splits = {"train_error": "train", "val_error": "val"}
        split = "both" if set(cmp.curves) >= set(splits) else splits[cmp.curves[0]]
        for ax, (group, members) in zip(axes[0], groups.items()):
            draw_runs(ax, [(m.config.title, mean_metrics(m)) for m in members], "error", split, "epoch")
            if cmp.target is not None:
                ax.axhline(cmp.target, color="grey", lw=0.8, ls=":")
                ax.text(ax.get_xlim()[0], cmp.target, f" target {cmp.target:g}%", va="bottom", fontsize=8, color="grey")
            if group:  # one unnamed group: the figure's title says it all
                ax.set_title(group)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8)
        if split == "both":
            fig.text(
                0.5,
                0.005,
                "solid: training error (running, over each epoch's batches); dashed: held-out error",
                ha="center",
                fontsize=8,
            )
    else:
        fig, ax = plt.subplots(figsize=(7, 4.6))
        series: dict[str, list[tuple[float, float, str]]] = {}
        for r in results.values():
            x = r.config.x if cmp.figure == "xy" else r.macs / 1e6
            y = r.mean(cmp.metric)
            if y is not None and x is not None:
                series.setdefault(r.config.group, []).append((x, y, r.config.title))
        for group, pts in series.items():
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=group)
            if cmp.figure == "macs":
                for x, y, label in pts:
                    ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if cmp.figure == "macs" and not cmp.log_x and (xlim := cost_axis([p[0] for v in series.values() for p in v])):
            ax.set_xlim(*xlim)
        if cmp.log_x:
            ax.set_xscale("log")
            ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))  # the measured points
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))  # 20, not 2 x 10^1
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(cmp.x_label or ("multiply-adds per image (millions)" if cmp.figure == "macs" else "x"))
        ax.set_ylabel(NAMES[cmp.metric])
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    width = fig.get_size_inches()[0]
    fig.suptitle("\n".join(textwrap.wrap(f"{exp.title} ({budget} budget)", int(11 * width))), fontsize=11)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cost_axis(xs: list[float]) -> tuple[float, float] | None:
    """x limits for a cost axis whose points are nearly equal (an equal-cost comparison): from 0, so that
    41 and 42 MMACs do not look far apart; ``None`` (matplotlib's own) when the costs spread."""
    if not xs or max(xs) <= 0 or max(xs) - min(xs) >= 0.25 * max(xs):
        return None
    return 0.0, 1.15 * max(xs)
