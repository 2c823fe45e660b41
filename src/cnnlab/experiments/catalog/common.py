"""What the experiment files share: CIFAR-10 subsets and the helpers their verdict rules use."""

from __future__ import annotations

from ..results import ConfigResult
from ..spec import Subset

# the quick budgets' held-out set: 200 images per class of the 10% held-out split (2,000 for CIFAR-10)
QUICK_VAL = Subset(val_per_class=200)
CIFAR_10K = Subset(per_class=1000, val_per_class=200)  # 10,000 training images


def final(results: dict[str, ConfigResult], name: str, metric: str) -> float:
    """The configuration's final metric (mean over seeds); a run that diverged counts as chance."""
    value = results[name].mean(metric)
    return float("nan") if value is None else value


def pct(value: float) -> str:
    return f"{value:.1f}%"


def named(results: dict[str, ConfigResult], name: str, metric: str) -> str:
    return f"{results[name].config.title} {pct(final(results, name, metric))}"
