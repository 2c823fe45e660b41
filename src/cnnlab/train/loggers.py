"""Loggers: the epoch records of metrics.jsonl, also as ``metrics.csv`` or TensorBoard event files.

``TrainConfig.log`` / ``cnnlab train --log csv,tensorboard`` picks them; each is a
:class:`~cnnlab.train.callbacks.Callback`. Every number they write is the same as metrics.jsonl's
(one value per epoch, named as there: ``train_loss``, ``val_top1``, ``test_top1``, ``lr``, ...).
"""

from __future__ import annotations

import csv
import io
import json
import math

from ..errors import CnnlabError
from .callbacks import Callback


class CsvLogger(Callback):
    """RUN_DIR/metrics.csv: one row per epoch, a column per metric (empty where metrics.jsonl has null).

    The file is rewritten atomically from the run's records at every epoch, so a resumed run's CSV
    holds exactly the epochs its checkpoint has seen, like metrics.jsonl.
    """

    name = "csv"

    def _write(self, ctx) -> None:
        from ..runs import atomic_write_bytes

        columns: list[str] = []
        for record in ctx.metrics:
            columns += [k for k in record if k not in columns]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for record in ctx.metrics:
            writer.writerow([_cell(record.get(k)) for k in columns])
        atomic_write_bytes(ctx.run_dir / "metrics.csv", buf.getvalue().encode())

    def on_train_start(self, ctx):
        self._write(ctx)

    def on_epoch_end(self, ctx, record):
        self._write(ctx)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)  # repr: the float round-trips exactly


class TensorBoardLogger(Callback):
    """RUN_DIR/tensorboard/: one scalar per numeric metric and epoch (``tensorboard --logdir RUN_DIR``).

    Tags are metrics.jsonl's names; the global step is the epoch. A resumed run purges the events
    after its checkpoint's last epoch, so the curves are not drawn twice.
    """

    name = "tensorboard"

    def __init__(self):
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (imports tensorboard)
        except ImportError:
            raise CnnlabError(
                "the TensorBoard logger needs the tensorboard package",
                "pip install 'cnnlab[tensorboard]' (or pip install tensorboard), or log with --log csv",
            ) from None
        self.writer = None

    def on_train_start(self, ctx):
        from torch.utils.tensorboard import SummaryWriter

        purge = len(ctx.metrics) + 1 if ctx.resumed else None
        self.writer = SummaryWriter(log_dir=str(ctx.run_dir / "tensorboard"), purge_step=purge)

    def on_epoch_end(self, ctx, record):
        for key, value in record.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and key not in ("epoch",)
                and math.isfinite(value)
            ):
                self.writer.add_scalar(key, value, global_step=record["epoch"])
        self.writer.flush()

    def on_train_end(self, ctx):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


LOGGERS = {"csv": CsvLogger, "tensorboard": TensorBoardLogger}


def make_loggers(spec: str) -> list[Callback]:
    """``"tensorboard,csv"`` -> the loggers (metrics.jsonl is always written)."""
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in LOGGERS]
    if unknown:
        raise CnnlabError(
            f"unknown logger {', '.join(map(repr, unknown))}",
            f"use any of {', '.join(LOGGERS)}, comma-separated (metrics.jsonl is always written)",
        )
    return [LOGGERS[n]() for n in dict.fromkeys(names)]
