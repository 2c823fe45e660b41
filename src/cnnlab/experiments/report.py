"""report.md of an experiment: the claim, one table, the verdict, the figure, hardware and version."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ..runs import atomic_write_bytes
from .figures import plot_experiment
from .results import ConfigResult
from .spec import Subset

REPORT_FILE = "report.md"
FIGURE_FILE = "figure.png"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cores() -> int:
    from ..runtime import available_cores

    return available_cores()


def fmt(value: float | None, spread: float | None = None, digits: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} ± {spread:.{digits}f}" if spread is not None else text


def options_text(result: ConfigResult) -> str:
    c = result.config
    parts = [f"{k}={v}" for k, v in c.model_args.items()] + [f"{k}={v}" for k, v in c.overrides.items()]
    if c.init_from:
        parts.append(f"init from {c.init_from}")
    return f"`{c.model}`" + (f" ({', '.join(parts)})" if parts else "")


def table(results: dict[str, ConfigResult], exp) -> list[str]:
    cmp = exp.compare
    show_test = exp.final_test and any(r.mean("test_error") is not None for r in results.values())
    head = [
        "configuration",
        "network",
        "params",
        "MMACs",
        "train images",
        "epochs",
        "train error %",
        "held-out error %",
    ]
    if show_test:
        head.append("test error %")
    if cmp.target is not None:
        head.append(f"epochs to {cmp.target:g}% {cmp.target_metric.replace('_', ' ')}")
    head.append("time (min)")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for r in results.values():
        diverged = sum(run.diverged is not None for run in r.runs)
        flag = f" (diverged: {diverged} of {len(r.runs)} seeds, counted as chance)" if diverged else ""
        row = [
            r.config.title,
            options_text(r),
            f"{r.params:,}",
            f"{r.macs / 1e6:,.1f}",
            _train_images(r),
            str(r.epochs),
            fmt(r.mean("train_error"), r.spread("train_error")) + flag,
            fmt(r.mean("val_error"), r.spread("val_error")) + flag,
        ]
        if show_test:
            row.append(fmt(r.mean("test_error"), r.spread("test_error")))
        if cmp.target is not None:
            epochs, hits = r.epochs_to(cmp.target_metric, cmp.target)
            row.append(
                f"not reached in {r.epochs}"
                if epochs is None
                else (f"{epochs:g}" if hits == len(r.runs) else f"{epochs:g} ({hits} of {len(r.runs)} seeds)")
            )
        row.append(f"{r.seconds / 60:.1f}")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _train_images(r: ConfigResult) -> str:
    resolved = r.runs[0].config.get("resolved", {})
    spe, batch = resolved.get("steps_per_epoch"), r.runs[0].config.get("batch_size")
    if spe and batch:  # whole batches of the training split per epoch (the last partial batch is dropped)
        return f"~{spe * batch:,}"
    return "-"


def write_report(run, overrides: dict, subset: Subset | None) -> tuple[Path, Path]:
    """Write OUT/report.md and OUT/figure.png for a finished :class:`~cnnlab.experiments.runner.ExperimentRun`."""
    import torch

    from .. import __version__

    exp, results, budget = run.experiment, run.results, run.budget
    b = exp.budget(budget)
    verdict = exp.verdict(results)
    figure = plot_experiment(exp, results, run.out / FIGURE_FILE, budget)
    seeds = max(len(r.runs) for r in results.values())
    subsets = _subsets_text(run, list(results))
    total = sum(r.seconds for r in results.values())
    lines = [
        f"# {exp.title}: {budget} budget",
        "",
        f"**Claim.** {exp.claim}",
        "",
        f"**Source.** {exp.lecture}; {exp.paper}.",
        "",
        f"**Verdict.** {verdict.sentence(budget)}",
        "",
    ]
    if seeds == 1:
        lines += [
            "One seed per configuration: differences of about a point are within what another seed could change.",
            "",
        ]
    lines += table(results, exp)
    lines += [
        "",
        f"Errors are top-1 in % at the last epoch, mean over {seeds} seed{'s' if seeds > 1 else ''}"
        f"{' (± sample standard deviation)' if seeds > 1 else ''}. Training error is the running error over "
        "the last epoch's training batches (augmented, dropout on); held-out error is measured on "
        f"{_heldout_text(exp)}"
        + (
            "; the official test split was evaluated once, at the end."
            if exp.final_test
            else "; the test split was not used."
        )
        + " MMACs: multiply-adds per image from the analyzer (`cnnlab summary`). Time: the trainer's clocks "
        "(training + evaluation, all seeds), not data loading.",
        "",
        f"![{exp.title}]({FIGURE_FILE})",
        "",
        "## Setup",
        "",
        f"- budget `{budget}`: {b.note or 'as the table says'}",
        f"- data: `{run.data}`; {subsets}",
        f"- recipe: `{exp.recipe or 'cnnlab defaults'}` with {_dict_text(exp.overrides) or 'no changes'}"
        + (f"; budget: {b.epochs} epochs" if b.epochs is not None else "")
        + (f", {_dict_text(b.overrides)}" if b.overrides else ""),
    ]
    if overrides or (subset and subset != Subset()):
        lines.append(
            f"- **changed for this run** (not the table's budget): {_dict_text(overrides)}"
            + (f"; subset {subset.describe()}" if subset and subset != Subset() else "")
        )
    lines += [
        f"- runs: {', '.join(f'`runs/{r.name}`' for res in results.values() for r in res.runs)}",
        f"- total time: {total / 60:.1f} min (sum of the runs' training + evaluation clocks)",
        "",
        "## Hardware and software",
        "",
        f"- CPU: {cpu_model()}, {cores()} cores available to the process ({os.cpu_count()} in the machine)",
        f"- cnnlab {__version__}, PyTorch {torch.__version__}, Python {platform.python_version()}",
        "",
    ]
    if exp.notes:
        lines += ["## Notes", "", exp.notes, ""]
    report = run.out / REPORT_FILE
    atomic_write_bytes(report, "\n".join(lines).encode())
    return report, figure


def _heldout_text(exp) -> str:
    split = exp.data_options.get("val_split")
    return (
        f"a held-out {split:.0%} of the training images (stratified, `val_split={split}`)"
        if split
        else "the data set's held-out split"
    )


def _subsets_text(run, names: list[str]) -> str:
    """Which images each configuration used, configurations with the same subset grouped."""
    import json

    plan = json.loads((run.out / "plan.json").read_text())["runs"]
    by_subset: dict[str, list[str]] = {}
    for name in names:
        for rec in plan.values():
            if rec["config"] == name:
                sub = Subset(
                    **{k: (tuple(v) if k == "classes" and v is not None else v) for k, v in rec["subset"].items()}
                )
                if name not in by_subset.setdefault(sub.describe(), []):
                    by_subset[sub.describe()].append(name)
    if len(by_subset) == 1:
        return f"every configuration: {next(iter(by_subset))}"
    return "; ".join(f"{', '.join(n)}: {d}" for d, n in by_subset.items())


def _dict_text(d: dict) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in d.items())
