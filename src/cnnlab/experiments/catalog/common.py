"""What the experiment files share: CIFAR-10 subsets and the helpers their verdict rules use."""

from __future__ import annotations

from ..results import ConfigResult
from ..spec import Subset

# the quick budgets' held-out set: 200 images per class of the 10% held-out split (2,000 for CIFAR-10)
QUICK_VAL = Subset(val_per_class=200)
CIFAR_10K = Subset(per_class=1000, val_per_class=200)  # 10,000 training images


# A difference smaller than this (in points of error) is not called a win: the quick budgets train one
# seed and measure on 2,000 held-out images, where the binomial standard error of a 25% error is
# sqrt(0.25 * 0.75 / 2000) = 0.97 points, and another seed moves a result by about as much.
NOISE_POINTS = 1.0
NOISE_NOTE = f"within {NOISE_POINTS:g} point, what another seed or another 2,000 held-out images could change"


def lower(a: float, b: float) -> bool:
    """``a`` is an error clearly below ``b`` (by more than :data:`NOISE_POINTS`)."""
    return a < b - NOISE_POINTS


def final(results: dict[str, ConfigResult], name: str, metric: str) -> float:
    """The configuration's final metric (mean over seeds); a run that diverged counts as chance."""
    value = results[name].mean(metric)
    return float("nan") if value is None else value


def pct(value: float) -> str:
    return f"{value:.1f}%"


def named(results: dict[str, ConfigResult], name: str, metric: str) -> str:
    return f"{results[name].config.title} {pct(final(results, name, metric))}"
