"""Memory: tensor lifetimes (peak live activations), parameters from the module tree, training bytes.

Peak live memory is computed from the operator trace, not from an allocator: every new tensor
(keyed by its storage, so views and in-place results are the same tensor) lives from the operator
that creates it to the last operator that reads it (the network's outputs live to the end). The
peak is the largest sum of live bytes at any operator, inputs and output of that operator included:
what an inference engine that frees each tensor after its last use needs, the quantity MCUNet
(Lin et al. 2020) minimises. PyTorch's own temporaries count too (the int64 indices its max-pool
returns, batch norm's statistics), since they are allocated in the pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .records import ParamStats


def storage_key(t: torch.Tensor) -> int | None:
    try:
        return t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, AttributeError):
        return None


@dataclass
class _Life:
    nbytes: int
    created: int
    last_use: int
    where: str
    numel: int = 0  # elements (the MCU budget re-prices activations at 1 byte each)
    floating: bool = True


class LifetimeTracker:
    """Creation and last use of every storage the forward pass touches."""

    def __init__(self):
        self.lives: list[_Life] = []
        self._by_key: dict[int, int] = {}
        self._keep: list = []  # storages stay referenced, so that an address is never reused mid-trace
        self.reads: dict[int, list[int]] = {}  # step -> lives the operator at that step read

    def use(self, t: torch.Tensor, step: int) -> None:
        i = self._by_key.get(storage_key(t))
        if i is not None:
            self.lives[i].last_use = step
            self.reads.setdefault(step, []).append(i)

    def produce(self, t: torch.Tensor, step: int, where: str, aliasing: bool) -> bool:
        """Record an operator output; True if it is a new tensor (not a view or in-place result)."""
        key = storage_key(t)
        if key is None:
            return False
        i = self._by_key.get(key)
        if i is not None:
            self.lives[i].last_use = step
            return False
        if aliasing:  # a view of something we did not see created (a parameter, a constant)
            return False
        storage = t.untyped_storage()
        self._keep.append(storage)
        self._by_key[key] = len(self.lives)
        self.lives.append(
            _Life(
                storage.nbytes(), step, step, where, storage.nbytes() // max(t.element_size(), 1), t.is_floating_point()
            )
        )
        return True

    def keep_alive(self, t: torch.Tensor, step: int) -> None:
        self.use(t, step)

    def all_bytes(self) -> int:
        return sum(life.nbytes for life in self.lives)

    def peak(self) -> tuple[int, int]:
        """(peak bytes, step at which it is reached)."""
        if not self.lives:
            return 0, -1
        last = max(life.last_use for life in self.lives)
        delta = [0] * (last + 2)
        for life in self.lives:
            delta[life.created] += life.nbytes
            delta[life.last_use + 1] -= life.nbytes
        best, at, running = 0, 0, 0
        for step in range(last + 1):
            running += delta[step]
            if running > best:
                best, at = running, step
        return best, at

    def release(self) -> None:
        self._keep.clear()


def param_stats(model: nn.Module, used: set[int]) -> ParamStats:
    """Parameters and buffers from the module tree, deduplicated by tensor identity.

    ``used`` holds the ids of the parameters some operator read in the forward pass; the others
    are "defined but not run in this forward" (GoogLeNet's auxiliary classifiers in eval mode).
    """
    stats = ParamStats()
    seen: dict[int, torch.Tensor] = {}
    names_per_tensor: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        seen[id(p)] = p
        names_per_tensor[id(p)] = names_per_tensor.get(id(p), 0) + 1
    for key, p in seen.items():
        n = p.numel()
        stats.total += n
        if p.requires_grad:
            stats.trainable += n
        else:
            stats.frozen += n
        dtype = str(p.dtype).replace("torch.", "")
        stats.bytes_by_dtype[dtype] = stats.bytes_by_dtype.get(dtype, 0) + n * p.element_size()
        if key not in used:
            stats.unused += n
        if names_per_tensor[key] > 1:
            stats.shared_tensors += 1
    buffers = {id(b): b for b in model.buffers()}
    stats.buffers = sum(b.numel() for b in buffers.values())
    stats.buffer_bytes = sum(b.numel() * b.element_size() for b in buffers.values())
    stats.unused_modules = _top_unused(model, used)
    return stats


def _top_unused(model: nn.Module, used: set[int]) -> list[str]:
    """The outermost modules whose parameters were all left unread (their children are implied)."""
    named = list(model.named_parameters(remove_duplicate=False))
    used_prefixes: set[str] = set()
    for name, p in named:
        if id(p) in used:
            parts = name.split(".")[:-1]
            used_prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    out: list[str] = []
    for name, p in named:
        if id(p) in used:
            continue
        parts = name.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix not in used_prefixes:
                if prefix not in out:
                    out.append(prefix)
                break
    return out


def training_bytes(model: nn.Module) -> dict[str, int]:
    """Bytes of trainable parameters, their gradients, and optimizer state (SGD momentum: 1 copy,
    Adam/AdamW: 2 copies, float32 as the parameters)."""
    seen = {id(p): p for p in model.parameters() if p.requires_grad}
    nbytes = sum(p.numel() * p.element_size() for p in seen.values())
    return {
        "params_bytes": sum(p.numel() * p.element_size() for p in {id(q): q for q in model.parameters()}.values()),
        "grads_bytes": nbytes,
        "sgd_momentum_bytes": nbytes,
        "adam_bytes": 2 * nbytes,
    }
