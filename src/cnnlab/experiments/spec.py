"""The declarative form of an experiment: what is claimed, which runs test it, how they are compared.

An :class:`Experiment` is a table: the claim and where it comes from (lecture, paper figure), a
list of :class:`Config` rows (model, model options, recipe overrides, data subset), what to
compare (:class:`Compare`), per-budget settings (:class:`Budget`: ``quick`` fits in 10 minutes on
the 2-core machine, ``full`` follows the paper) and a verdict rule. :meth:`Experiment.plan` turns
it into one :class:`PlannedRun` per configuration x seed: a complete ``TrainConfig`` dict and a
data subset, which the runner trains as an ordinary run folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import CnnlabError

BUDGETS = ("quick", "full")
METRICS = ("train_error", "val_error", "test_error", "train_loss", "val_loss")
FIGURES = ("curves", "xy", "macs")
# TrainConfig keys that the runner sets itself (a table or --set must not)
RUNNER_KEYS = {"model", "data", "data_options", "seed", "out", "overwrite", "progress"}


@dataclass(frozen=True)
class Subset:
    """Which images a configuration trains and is evaluated on (chosen with a fixed seed, the same for
    every configuration and training seed).

    ``classes``: keep these class indices (relabelled 0..k-1, both splits); ``per_class``: at most
    this many training images per class; ``fraction``: this fraction of every class's training
    images; ``val_per_class``: at most this many held-out images per class.
    """

    classes: tuple[int, ...] | None = None
    per_class: int | None = None
    fraction: float | None = None
    val_per_class: int | None = None

    def merged(self, other: Subset | None) -> Subset:
        """This subset with ``other``'s set fields taking precedence."""
        if other is None:
            return self
        return Subset(
            **{
                f.name: getattr(other, f.name) if getattr(other, f.name) is not None else getattr(self, f.name)
                for f in fields(self)
            }
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["classes"] is not None:
            d["classes"] = list(d["classes"])
        return d

    def describe(self) -> str:
        parts = []
        if self.classes is not None:
            parts.append(f"classes {','.join(map(str, self.classes))}")
        if self.per_class is not None:
            parts.append(f"{self.per_class} training images/class")
        if self.fraction is not None:
            parts.append(f"{self.fraction:.0%} of the training images")
        if self.val_per_class is not None:
            parts.append(f"{self.val_per_class} held-out images/class")
        return ", ".join(parts) or "all images"


@dataclass(frozen=True)
class Config:
    """One row of the table: a network, its options and its training differences."""

    name: str  # file-system safe: becomes the run folder's name (+ -s<seed>)
    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)  # TrainConfig keys on top of recipe and budget
    subset: Subset | None = None  # on top of the budget's subset
    init_from: str | None = None  # another configuration whose final weights start this one (same seed)
    group: str = ""  # figure: panel (curves) or series (xy, macs)
    x: float | None = None  # figure "xy": position on the x axis (label budget, data fraction)
    label: str = ""  # legend text (default: name)

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Budget:
    """How long: epochs (or the recipe's own schedule when None), a data subset, which configurations."""

    epochs: int | None = None
    subset: Subset | None = None
    configs: tuple[str, ...] | None = None  # None: all
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: int = 1
    note: str = ""  # what is cut and what that means for the claim


@dataclass(frozen=True)
class Compare:
    """What the table and figure compare."""

    metric: str = "val_error"  # the verdict's main metric (METRICS)
    figure: str = "curves"  # curves (error per epoch, panels by group) | xy (final metric vs Config.x) | macs
    curves: tuple[str, ...] = ("train_error", "val_error")  # which curves the "curves" figure draws
    target: float | None = None  # "epochs to target": first epoch with metric <= target (%)
    target_metric: str = "train_error"
    x_label: str = ""
    log_x: bool = False


@dataclass
class Verdict:
    supports: bool
    because: str

    def sentence(self, budget: str) -> str:
        word = "Supports" if self.supports else "Does not support"
        return f"{word} the claim at the {budget} budget, because {self.because}."


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    claim: str
    lecture: str  # e.g. "lecture 000, 'Deep residual learning' slides"
    paper: str  # citation incl. figure/table
    configs: tuple[Config, ...]
    budgets: dict[str, Budget]
    verdict: Callable[[dict], Verdict]  # {config name: ConfigResult} -> Verdict
    compare: Compare = Compare()
    recipe: str | None = "resnet-cifar"
    overrides: dict[str, Any] = field(default_factory=dict)  # on top of the recipe, for every configuration
    data: str = "cifar10"  # the data set the claim is about (--data gives its path)
    data_options: dict[str, Any] = field(default_factory=lambda: {"val_split": 0.1})
    train_images: int = 50_000  # of the data set's training split, before the held-out cut (for estimates)
    num_classes: int = 10
    final_test: bool = False  # the protocol reports the official test split once, at the end
    notes: str = ""

    def budget(self, name: str) -> Budget:
        if name not in self.budgets:
            raise CnnlabError(f"experiment {self.name} has no budget {name!r}", f"use one of {', '.join(self.budgets)}")
        return self.budgets[name]

    def configs_for(self, budget: str) -> list[Config]:
        chosen = self.budget(budget).configs
        return [c for c in self.configs if chosen is None or c.name in chosen]

    def config(self, name: str) -> Config:
        for c in self.configs:
            if c.name == name:
                return c
        raise CnnlabError(f"experiment {self.name} has no configuration {name!r}")

    def validate(self) -> Experiment:
        from ..train.config import TrainConfig

        known = {f.name for f in fields(TrainConfig)}
        names = [c.name for c in self.configs]
        if len(set(names)) != len(names):
            raise CnnlabError(f"experiment {self.name}: configuration names repeat: {names}")
        if self.compare.metric not in METRICS or self.compare.target_metric not in METRICS:
            raise CnnlabError(f"experiment {self.name}: unknown metric in {self.compare}")
        if self.compare.figure not in FIGURES:
            raise CnnlabError(f"experiment {self.name}: unknown figure {self.compare.figure!r}")
        if set(self.budgets) != set(BUDGETS):
            raise CnnlabError(f"experiment {self.name}: budgets must be {BUDGETS}")
        for b_name, b in self.budgets.items():
            for c in self.configs_for(b_name):
                if c.init_from is not None and c.init_from not in [d.name for d in self.configs_for(b_name)]:
                    raise CnnlabError(
                        f"experiment {self.name}: {c.name} starts from {c.init_from}, which the "
                        f"{b_name} budget does not run"
                    )
            missing = set(b.configs or ()) - set(names)
            if missing:
                raise CnnlabError(f"experiment {self.name}: budget {b_name} names unknown configurations {missing}")
        for where, keys in (
            [("experiment", self.overrides)]
            + [(c.name, c.overrides) for c in self.configs]
            + [(f"budget {n}", b.overrides) for n, b in self.budgets.items()]
        ):
            bad = (set(keys) - known) | (set(keys) & RUNNER_KEYS)
            if bad:
                raise CnnlabError(f"experiment {self.name}, {where}: not settable training keys {sorted(bad)}")
        sources = {c.init_from for c in self.configs}
        if self.compare.figure == "xy" and any(c.x is None and c.name not in sources for c in self.configs):
            raise CnnlabError(
                f"experiment {self.name}: an xy figure needs x on every configuration "
                "(except backbones other configurations start from)"
            )
        return self

    def plan(
        self,
        budget: str = "quick",
        seeds: int | None = None,
        overrides: dict | None = None,
        subset: Subset | None = None,
    ) -> list[PlannedRun]:
        """One run per configuration x seed, in dependency order (a run after the one it starts from)."""
        from ..train.config import TrainConfig
        from ..train.recipes import apply_overrides, load_recipe

        b = self.budget(budget)
        n_seeds = seeds or b.seeds
        if n_seeds < 1:
            raise CnnlabError(f"--seeds {n_seeds}", "use 1 or more seeds")
        extra = dict(overrides or {})
        bad = set(k.split(".")[0] for k in extra) & RUNNER_KEYS
        if bad:
            raise CnnlabError(
                f"--set cannot change {sorted(bad)}: the experiment sets them", "use --data, --seeds and --out instead"
            )
        base = load_recipe(self.recipe).to_dict() if self.recipe else TrainConfig().to_dict()
        base = apply_overrides(base, self.overrides)
        if b.epochs is not None:
            base = apply_overrides(base, {"epochs": b.epochs, "steps": 0})
        base = apply_overrides(base, b.overrides)
        runs: list[PlannedRun] = []
        configs = _dependency_order(self.configs_for(budget))
        for seed in range(n_seeds):
            for c in configs:
                cfg = apply_overrides(dict(base), c.overrides)
                recipe_args = cfg.get("model_args", {}) if cfg.get("model") == c.model else {}  # another net's
                cfg.update(
                    model=c.model,
                    model_args={**recipe_args, **c.model_args},
                    seed=seed,
                    data_options=dict(self.data_options),
                )
                cfg = apply_overrides(cfg, extra)
                # the experiment's protocol, not the recipe's: most compare on the validation split and
                # must not touch the test split even when their recipe reports it (resnet-cifar does)
                cfg["final_test"] = self.final_test
                sub = (b.subset or Subset()).merged(c.subset).merged(subset)
                TrainConfig.from_dict({k: v for k, v in cfg.items() if k != "out"}).validate()
                runs.append(PlannedRun(self.name, c, seed, cfg, sub))
        return runs


@dataclass
class PlannedRun:
    experiment: str
    config: Config
    seed: int
    train: dict[str, Any]  # TrainConfig fields (without data, out, progress: the runner adds them)
    subset: Subset

    @property
    def name(self) -> str:
        return f"{self.config.name}-s{self.seed}"

    def record(self) -> dict:
        """What identifies the run (stored in the experiment folder's plan.json, compared on re-runs)."""
        return {
            "config": self.config.name,
            "seed": self.seed,
            "subset": self.subset.to_dict(),
            "init_from": self.config.init_from,
        }


def _dependency_order(configs: list[Config]) -> list[Config]:
    done: list[Config] = []
    names = {c.name for c in configs}
    pending = list(configs)
    while pending:
        ready = [c for c in pending if c.init_from is None or c.init_from in {d.name for d in done}]
        if not ready:
            raise CnnlabError(f"configurations start from each other in a cycle: {[c.name for c in pending]}")
        if any(c.init_from is not None and c.init_from not in names for c in ready):
            raise CnnlabError("a configuration starts from one that is not run")
        done.extend(ready)
        pending = [c for c in pending if c not in ready]
    return done
