"""Callbacks: what the training loop tells the outside world, and how the outside world stops it.

A callback is any object with some of these methods (the :class:`Callback` base class gives them
all, doing nothing)::

    on_train_start(ctx)          ctx.metrics holds the epochs already done (a resumed run)
    on_epoch_start(ctx, epoch)
    on_step_end(ctx, step, loss) after each optimizer step (loss: the epoch's running training loss)
    on_epoch_end(ctx, record)    record: the epoch's line of metrics.jsonl
    on_train_end(ctx)
    should_stop(record) -> str   a reason to end training after this epoch ('' to go on); pure
    state_dict() / load_state_dict(state)   JSON-able state saved in every checkpoint (exact resume)

``ctx`` is a :class:`RunContext` (run folder, configuration, the metrics so far, ``say``). The
trainer's own outputs are callbacks too: metrics.jsonl (:class:`JsonlLogger`) and curves.png
(:class:`CurvesPlot`); the CSV and TensorBoard loggers live in :mod:`cnnlab.train.loggers`.
Callbacks run on the main process only (DDP rank 0) unless they set ``all_ranks = True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CnnlabError
from ..runs import append_jsonl, read_jsonl


@dataclass
class RunContext:
    run_dir: Path
    config: Any  # the TrainConfig
    metrics: list[dict] = field(default_factory=list)  # one record per finished epoch
    say: Callable[[str], None] = print
    resumed: bool = False
    monitor: str = "top1"  # the task's validation number that picks the best weights (val_<monitor>)


class Callback:
    """Base class: every hook does nothing; subclasses override what they need."""

    name = "callback"  # key of its state in the checkpoint (unique per run)

    def on_train_start(self, ctx: RunContext) -> None: ...
    def on_epoch_start(self, ctx: RunContext, epoch: int) -> None: ...
    def on_step_end(self, ctx: RunContext, step: int, loss: float) -> None: ...
    def on_epoch_end(self, ctx: RunContext, record: dict) -> None: ...
    def on_train_end(self, ctx: RunContext) -> None: ...

    def should_stop(self, record: dict) -> str:
        return ""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


class JsonlLogger(Callback):
    """metrics.jsonl: one JSON line per epoch; on resume, exactly the epochs the checkpoint has seen."""

    name = "jsonl"

    def on_train_start(self, ctx):
        path = ctx.run_dir / "metrics.jsonl"
        if ctx.resumed:
            path.unlink(missing_ok=True)
            for record in ctx.metrics:
                append_jsonl(path, record)

    def on_epoch_end(self, ctx, record):
        append_jsonl(ctx.run_dir / "metrics.jsonl", record)


class CurvesPlot(Callback):
    """curves.png: loss and accuracy per epoch, drawn once at the end."""

    name = "curves"

    def on_train_end(self, ctx):
        from ..viz.curves import plot_curves

        plot_curves(
            read_jsonl(ctx.run_dir / "metrics.jsonl") or ctx.metrics,
            ctx.run_dir / "curves.png",
            title=f"{ctx.config.model} on {ctx.config.data}",
            monitor=ctx.monitor,
        )


class EarlyStopping(Callback):
    """Stop when a validation metric has not improved by more than ``min_delta`` for ``patience``
    evaluations in a row. ``mode`` is ``max`` (accuracies) or ``min`` (losses); ``auto`` picks by name.

    Only validation metrics are allowed: the test split must choose nothing, not even when to stop.
    Epochs without a validation evaluation (``eval_every``) neither count nor reset the patience.
    """

    name = "early_stop"
    all_ranks = True  # every DDP rank must stop at the same epoch

    def __init__(self, monitor: str = "val_top1", patience: int = 5, min_delta: float = 0.0, mode: str = "auto"):
        if monitor.startswith("test_"):
            raise CnnlabError(
                f"early stopping on {monitor} would let the test split choose when to stop",
                "monitor a validation metric instead, e.g. val_top1 or val_loss (the test "
                "split is read once, after training, and chooses nothing)",
            )
        if not monitor.startswith("val_"):
            raise CnnlabError(
                f"early stopping monitors a validation metric, not {monitor!r}", "use val_top1, val_top5 or val_loss"
            )
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise CnnlabError(f"early stopping mode {mode!r}", "use min, max or auto")
        if patience < 1 or min_delta < 0:
            raise CnnlabError(
                f"early stopping patience={patience}, min_delta={min_delta}",
                "patience is 1 or more evaluations; min_delta is 0 or more",
            )
        self.monitor, self.patience, self.min_delta, self.mode = monitor, int(patience), float(min_delta), mode
        self.best: float | None = None
        self.bad = 0  # evaluations in a row without improvement
        self.stopped_epoch = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def should_stop(self, record):
        value = record.get(self.monitor)
        if value is None or not math.isfinite(value) or self._improved(value):
            return ""
        if self.bad + 1 >= self.patience:
            return (
                f"early stopping: {self.monitor} has not improved on {self.best:.4f} by more than "
                f"{self.min_delta:g} for {self.patience} evaluation{'s' if self.patience > 1 else ''}"
            )
        return ""

    def on_epoch_end(self, ctx, record):
        value = record.get(self.monitor)
        if value is None:
            return
        reason = self.should_stop(record)
        if self._improved(value):
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        if reason:
            self.stopped_epoch = record["epoch"]

    def state_dict(self):
        return {"best": self.best, "bad": self.bad, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state):
        self.best, self.bad, self.stopped_epoch = state["best"], state["bad"], state["stopped_epoch"]


def parse_early_stop(spec: str) -> EarlyStopping:
    """``val_top1:patience=5[:min_delta=0.1][:mode=max]`` -> :class:`EarlyStopping`."""
    monitor, *parts = spec.split(":")
    kwargs: dict[str, Any] = {}
    kinds = {"patience": int, "min_delta": float, "mode": str}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not eq or key not in kinds:
            raise CnnlabError(
                f"early_stop {spec!r}: cannot read {part!r}",
                "write METRIC:patience=N[:min_delta=D][:mode=min|max], e.g. val_top1:patience=5",
            )
        try:
            kwargs[key] = kinds[key](value)
        except ValueError:
            raise CnnlabError(
                f"early_stop {spec!r}: {key}={value!r} is not a number", "e.g. val_top1:patience=5:min_delta=0.1"
            ) from None
    return EarlyStopping(monitor.strip(), **kwargs)


class CallbackList:
    """The run's callbacks, called in order; their states keyed by ``name`` in the checkpoint."""

    def __init__(self, callbacks: list, ctx: RunContext, active: bool = True):
        names = [getattr(cb, "name", type(cb).__name__) for cb in callbacks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise CnnlabError(
                f"two callbacks share the name {', '.join(dup)}",
                "give each callback a distinct `name` attribute (its checkpoint key)",
            )
        self.callbacks, self.names, self.ctx, self.active = list(callbacks), names, ctx, active

    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            if not (self.active or getattr(cb, "all_ranks", False)):  # DDP ranks other than 0 write nothing
                continue
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self.ctx, *args)

    def train_start(self):
        self._call("on_train_start")

    def epoch_start(self, epoch):
        self._call("on_epoch_start", epoch)

    def step_end(self, step, loss):
        self._call("on_step_end", step, loss)

    def epoch_end(self, record):  # the trainer has appended ``record`` to ctx.metrics
        self._call("on_epoch_end", record)

    def train_end(self):
        self._call("on_train_end")

    def stop_reason(self, record: dict) -> str:
        reasons = [cb.should_stop(record) for cb in self.callbacks if hasattr(cb, "should_stop")]
        return next((r for r in reasons if r), "")

    def state_dict(self) -> dict:
        return {n: cb.state_dict() for n, cb in zip(self.names, self.callbacks) if hasattr(cb, "state_dict")}

    def load_state_dict(self, states: dict) -> None:
        for n, cb in zip(self.names, self.callbacks):
            if n in states and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(states[n])

    @property
    def wants_steps(self) -> bool:
        """Whether a callback (on any rank) has its own ``on_step_end``: only then does the trainer read
        the running loss on the host after every step (the same answer on every DDP rank)."""
        return any(
            getattr(type(cb), "on_step_end", Callback.on_step_end) is not Callback.on_step_end
            or "on_step_end" in getattr(cb, "__dict__", {})
            for cb in self.callbacks
        )

    @property
    def stopped(self) -> bool:
        """Whether a callback (early stopping) already ended this run (a resumed, finished run)."""
        return any(getattr(cb, "stopped_epoch", 0) for cb in self.callbacks)


def build_callbacks(cfg, extra: list | None = None) -> list:
    """The trainer's callbacks for ``cfg``: metrics.jsonl, the ``log`` loggers, early stopping, the
    user's ``extra`` ones, and curves.png last."""
    from .loggers import make_loggers

    out: list = [JsonlLogger(), *make_loggers(cfg.log)]
    if cfg.early_stop:
        out.append(parse_early_stop(cfg.early_stop))
    return out + list(extra or []) + [CurvesPlot()]
