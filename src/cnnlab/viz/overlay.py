"""Curves of several runs on one set of axes: ``cnnlab plot RUN... -o FILE``.

Error (100 - top-1, %) or loss, of the training split (the running value over each epoch's
batches), the held-out split or both, against epochs or wall time (the trainer's own training +
evaluation clocks, cumulative). Each run keeps one colour; training curves are solid, held-out
dashed (He et al. 2016, Fig. 1 and 6 draw training error thin and test error bold the same way).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..errors import CnnlabError  # noqa: E402
from ..runs import read_jsonl  # noqa: E402

METRICS = ("error", "loss")
SPLITS = ("train", "val", "both")
XS = ("epoch", "time")
STYLE = {"train": "-", "val": "--", "test": ":"}
SPLIT_NAMES = {"train": "train", "val": "held-out", "test": "test"}


def read_run_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CnnlabError(f"{run_dir} holds no metrics.jsonl", "pass run folders written by `cnnlab train`")
    metrics = read_jsonl(path)
    if not metrics:
        raise CnnlabError(f"{path} is empty: the run has not finished an epoch yet")
    return metrics


def series(metrics: list[dict], metric: str, split: str, x: str) -> tuple[list[float], list[float]]:
    """x and y of one curve; epochs without the value (held-out skipped by --eval-every) are left out."""
    if metric not in METRICS or split not in ("train", "val", "test") or x not in XS:
        raise CnnlabError(
            f"unknown curve {metric}/{split}/{x}", f"metric in {METRICS}, split in train/val/test, x in {XS}"
        )
    key = f"{split}_top1" if metric == "error" else f"{split}_loss"
    xs, ys, clock = [], [], 0.0
    for m in metrics:
        clock += m.get("seconds", 0.0) + m.get("eval_seconds", 0.0)
        value = m.get(key)
        if value is None:
            continue
        xs.append(m["epoch"] if x == "epoch" else clock / 60)
        ys.append(100.0 - value if metric == "error" else value)
    return xs, ys


def draw_runs(
    ax,
    runs: list[tuple[str, list[dict]]],
    metric: str = "error",
    split: str = "both",
    x: str = "epoch",
    colors: list | None = None,
) -> None:
    """Draw each (label, metrics) run on ``ax``: one colour per run, solid train / dashed held-out."""
    splits = ("train", "val") if split == "both" else (split,)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, metrics) in enumerate(runs):
        color = (colors or cycle)[i % len(colors or cycle)]
        for s in splits:
            xs, ys = series(metrics, metric, s, x)
            if xs:
                ax.plot(
                    xs,
                    ys,
                    STYLE[s],
                    color=color,
                    marker="o" if len(xs) < 30 else None,
                    markersize=3,
                    label=f"{label} ({SPLIT_NAMES[s]})" if len(splits) > 1 else label,
                )
    if x == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch" if x == "epoch" else "wall time (minutes: training + evaluation)")
    ax.set_ylabel("top-1 error (%)" if metric == "error" else "cross-entropy loss")
    ax.grid(alpha=0.3)


def plot_runs(
    run_dirs: list[str | Path],
    path: str | Path,
    metric: str = "error",
    split: str = "both",
    x: str = "epoch",
    labels: list[str] | None = None,
    title: str = "",
) -> Path:
    """Overlay the curves of ``run_dirs`` in one PNG."""
    if not run_dirs:
        raise CnnlabError("no runs to plot", "pass one or more run folders")
    if split not in SPLITS:
        raise CnnlabError(f"unknown split {split!r}", f"use one of {', '.join(SPLITS)}")
    if labels is not None and len(labels) != len(run_dirs):
        raise CnnlabError(f"{len(labels)} labels for {len(run_dirs)} runs", "give one label per run")
    runs = [(labels[i] if labels else Path(r).name, read_run_metrics(r)) for i, r in enumerate(run_dirs)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    draw_runs(ax, runs, metric, split, x)
    ax.legend(fontsize=8)
    ax.set_title(
        title
        or f"{'error' if metric == 'error' else 'loss'}: "
        f"{'train (solid) and held-out (dashed)' if split == 'both' else SPLIT_NAMES[split]}"
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
