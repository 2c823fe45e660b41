"""Reading an experiment's finished runs back: per-run metrics, per-configuration means over seeds.

Everything here comes from the run folders (``config.json``, ``metrics.jsonl``) and the analyzer
(parameters, multiply-adds): the report never holds a number a run folder does not.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..runs import read_jsonl
from .spec import Config

ERRORS = {"train_error": "train_top1", "val_error": "val_top1", "test_error": "test_top1"}


def metric_of(record: dict, metric: str) -> float | None:
    """``train_error`` = 100 - train_top1 (%), ``val_loss`` = val_loss, ...; None where not evaluated."""
    if metric in ERRORS:
        value = record.get(ERRORS[metric])
        return None if value is None else 100.0 - value
    return record.get(metric)


@dataclass
class RunResult:
    name: str
    seed: int
    run_dir: Path
    metrics: list[dict]
    config: dict

    diverged: dict | None = None  # diverged.json: the loss became NaN/infinite

    @classmethod
    def read(cls, run_dir: Path, seed: int) -> RunResult:
        config = json.loads((run_dir / "config.json").read_text())
        diverged = run_dir / "diverged.json"
        return cls(
            run_dir.name,
            seed,
            run_dir,
            read_jsonl(run_dir / "metrics.jsonl"),
            config,
            json.loads(diverged.read_text()) if diverged.is_file() else None,
        )

    def final(self, metric: str) -> float | None:
        """The metric at the last epoch that has it (held-out metrics: the last evaluated epoch); a diverged
        run's error is chance (100 - 100 / classes) and its loss None."""
        if self.diverged is not None:
            classes = len(self.config.get("resolved", {}).get("classes", [])) or 10
            return 100.0 - 100.0 / classes if metric in ERRORS else None
        for record in reversed(self.metrics):
            value = metric_of(record, metric)
            if value is not None:
                return value
        return None

    def curve(self, metric: str) -> tuple[list[int], list[float]]:
        pts = [(r["epoch"], metric_of(r, metric)) for r in self.metrics]
        pts = [(e, v) for e, v in pts if v is not None]
        return [e for e, _ in pts], [v for _, v in pts]

    def epochs_to(self, metric: str, target: float) -> int | None:
        for record in self.metrics:
            value = metric_of(record, metric)
            if value is not None and value <= target:
                return record["epoch"]
        return None

    @property
    def seconds(self) -> float:
        """Training + evaluation time of all epochs (the trainer's own clocks, resumes included)."""
        return sum(r.get("seconds", 0.0) + r.get("eval_seconds", 0.0) for r in self.metrics)

    @property
    def epochs(self) -> int:
        return len(self.metrics)


@dataclass
class ConfigResult:
    config: Config
    runs: list[RunResult]
    params: int
    macs: int
    extra: dict = field(default_factory=dict)

    def mean(self, metric: str) -> float | None:
        values = [v for v in (r.final(metric) for r in self.runs) if v is not None]
        return statistics.fmean(values) if values else None

    def spread(self, metric: str) -> float | None:
        values = [v for v in (r.final(metric) for r in self.runs) if v is not None]
        return statistics.stdev(values) if len(values) > 1 else None

    def epochs_to(self, metric: str, target: float) -> tuple[float | None, int]:
        """Mean epochs to the target over the seeds that reached it, and how many reached it."""
        hits = [e for e in (r.epochs_to(metric, target) for r in self.runs) if e is not None]
        return (statistics.fmean(hits) if hits else None), len(hits)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)

    @property
    def epochs(self) -> int:
        return max(r.epochs for r in self.runs)
