"""The lectures' experiments as commands: declarative tables, resumable runs, a report and a figure each.

    from cnnlab.experiments import get_experiment, run_experiment
    run_experiment("degradation", data="cifar10:PATH", budget="quick")   # -> experiments/degradation-quick/

``spec.py`` (the table format), ``catalog/`` (one file per experiment), ``runner.py`` (run folders,
reuse and resume), ``results.py`` (metrics read back), ``report.py`` + ``figures.py`` (report.md,
figure.png), ``estimate.py`` (expected wall time), ``subsets.py`` (data subsets).
"""

from __future__ import annotations

from .catalog import EXPERIMENTS, get_experiment, list_experiments
from .runner import ExperimentRun, run_experiment
from .spec import Budget, Compare, Config, Experiment, Subset, Verdict

__all__ = [
    "EXPERIMENTS",
    "Budget",
    "Compare",
    "Config",
    "Experiment",
    "ExperimentRun",
    "Subset",
    "Verdict",
    "get_experiment",
    "list_experiments",
    "run_experiment",
]
