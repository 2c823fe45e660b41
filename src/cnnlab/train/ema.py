"""Exponential moving average of the weights, and lookahead.

``ema <- decay * ema + (1 - decay) * weights`` after every ``every``-th optimizer step (Polyak &
Juditsky 1992 averaging in its exponential form). Buffers (batch-norm running statistics) are
averaged the same way, as airbench does.

With ``lookahead`` the average is also copied back into the model at each update: the model
takes ``every`` fast steps, then is pulled back to the slow weights (Zhang et al. 2019,
"Lookahead Optimizer: k steps forward, 1 step back"; airbench94 uses it with k = 5 and a decay
that ramps up as (step / total)^3, Jordan 2024, arXiv 2404.00498).
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class ModelEMA:
    """The averaged copy of a model (``.module``, always in eval mode)."""

    def __init__(self, model: nn.Module, decay: float, every: int = 1, ramp: float = 0.0, lookahead: bool = False):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.every = every
        self.ramp = ramp
        self.lookahead = lookahead
        self.updates = 0

    def decay_at(self, step: int, total: int) -> float:
        d = self.decay**self.every
        if self.ramp:
            d *= (step / max(1, total)) ** self.ramp
        return d

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        """Move the average towards ``model`` (``decay`` 0 copies it; 1 keeps the average)."""
        for avg, cur in zip(self.module.state_dict().values(), model.state_dict().values()):
            if avg.is_floating_point():
                avg.lerp_(cur.to(avg.dtype), 1.0 - decay)
                if self.lookahead:
                    cur.copy_(avg)
            else:
                avg.copy_(cur)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the average into ``model`` (lookahead does this at every epoch end, as airbench)."""
        for avg, cur in zip(self.module.state_dict().values(), model.state_dict().values()):
            cur.copy_(avg)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
