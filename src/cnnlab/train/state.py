"""The training loop's running statistics, and the stop when the loss stops being a number.

A task's ``loss`` returns each batch's sums as device tensors (``{"seen": n, "loss": ..., ...}``).
:class:`RunningSums` keeps them there; :meth:`RunningSums.sync` reads them on the host - all-reduced
across DDP ranks - only when the trainer logs: every :data:`SYNC_EVERY` micro-batches (the progress
bar's numbers), before a checkpoint, at the end of an epoch, and after each optimizer step only if
a callback listens to steps. A GPU therefore never waits for the host within those batches.

The sums are added on the host batch by batch, in batch order, in float64: the same additions a
read after every batch would make (so the numbers do not depend on when they are read). The NaN
guard looks at each batch's loss as it is added, so it still names the step whose loss went bad;
because every checkpoint is written after a sync, a checkpoint never holds weights updated from a
non-finite loss, and the last good one is kept.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import CnnlabError

SYNC_EVERY = 20  # micro-batches between host reads of the running sums


class NonFiniteLoss(CnnlabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def nan_stop_message(loss: float, where: str, run_dir: Path, checkpointed: bool) -> tuple[str, str]:
    """The message and hint of a NaN stop. Resuming replays the same steps bitwise and would diverge at
    the same step, so the hint is to start again with settings that change the numbers."""
    kept = (
        f"the last good checkpoint is kept in {run_dir / 'checkpoint'}, but resuming would replay the same "
        "steps and stop here again"
        if checkpointed
        else "no checkpoint had been written yet"
    )
    return (
        f"the loss became {loss} at {where}: training stopped ({kept})",
        f"start the run again with a lower learning rate (e.g. --lr of half the current one), --clip-grad 1.0, "
        f"a warm-up (--warmup-epochs 1) or --precision fp32; add --overwrite --out {run_dir} to reuse the folder",
    )


def batch_sum(mean: torch.Tensor, n: int) -> torch.Tensor:
    """A batch's mean as the sum over its ``n`` items, detached, in float64 (float32 on MPS, which has none)."""
    t = mean.detach()
    return (t.float() if t.device.type == "mps" else t.double()) * n


class RunningSums:
    """The sums of an epoch's batches: ``totals`` (host floats, as of the last sync) plus pending rows."""

    def __init__(self, totals: dict[str, float] | list[float] | None = None):
        if isinstance(totals, list):  # a checkpoint written before the Task protocol: classification's layout
            n, loss, correct, _, *aux = totals
            totals = {"seen": n, "loss": loss, "correct": correct, **{f"aux_loss.{i}": a for i, a in enumerate(aux)}}
        self.totals: dict[str, float] = dict(totals or {})
        self._pending: list[tuple[object, tuple[str, ...], torch.Tensor]] = []

    def add(self, sums: dict, where) -> None:
        """One batch's sums (tensors or numbers); ``where`` names it in a NaN stop. No host synchronisation."""
        values = list(sums.values())
        ref = next((v for v in values if isinstance(v, torch.Tensor)), None)
        device = ref.device if ref is not None else torch.device("cpu")
        dtype = torch.float32 if device.type == "mps" else torch.float64
        row = torch.stack(
            [
                v.to(dtype)
                if isinstance(v, torch.Tensor)  # numbers are filled on the device: no copy
                else torch.full((), float(v), dtype=dtype, device=device)
                for v in values
            ]
        )
        self._pending.append((where, tuple(sums), row))

    def sync(self, all_reduce=None):
        """Add the pending batches to ``totals`` (summed over ranks by ``all_reduce(tensor)`` first).
        Returns ``(loss per item, where)`` of the first batch whose loss is not finite (not added), else None."""
        if not self._pending:
            return None
        pending, self._pending = self._pending, []
        rows = torch.stack([row for _, _, row in pending])
        if all_reduce is not None:
            all_reduce(rows)
        for (where, keys, _), values in zip(pending, rows.tolist()):
            batch = dict(zip(keys, values))
            if not math.isfinite(batch.get("loss", 0.0)):
                return batch["loss"] / batch.get("seen", 1), where
            for k, v in batch.items():
                self.totals[k] = self.totals.get(k, 0.0) + v
        return None
