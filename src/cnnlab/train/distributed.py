"""Distributed data-parallel training under ``torchrun``.

``torchrun --nproc_per_node=N -m cnnlab train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR/PORT`` set; :func:`setup` joins them into one
process group (gloo on CPU, nccl on CUDA). Each process trains on its own slice of every global
batch (the global batch is ``batch_size x N``, drawn from the one order fixed by (seed, epoch)),
gradients are averaged by ``DistributedDataParallel``, and only rank 0 writes the run folder. So
N processes compute the same updates as one process with an N times larger batch.

On a 2-core CPU, 2 ranks x 1 thread beat 1 process x 2 threads by 1.4-1.5x for LeNet-5 and tie
for ResNet-18 (docs/architecture.md; research note perf-anchors section 3.5).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What ``torchrun`` told this process (a single process if nothing)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> DistInfo:
    """Join the process group if launched by torchrun with more than one process."""
    info = env_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return info


def device_for(device: torch.device, info: DistInfo) -> torch.device:
    """Each rank on its own GPU (``cuda:LOCAL_RANK``); CPU ranks share the CPU."""
    if info.enabled and device.type == "cuda":
        return torch.device("cuda", info.local_rank)
    return device


def wrap(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (with SyncBatchNorm if asked)."""
    if not info.enabled:
        return model
    if sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    # a model that freezes parameters during training (airbench's whitening bias) leaves some unused
    unused = hasattr(model, "set_epoch")
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)


def shard(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's rows of a global batch (contiguous slices; equal sizes when divisible)."""
    if not info.enabled:
        return x
    n = x.shape[0]
    lo, hi = n * info.rank // info.world_size, n * (info.rank + 1) // info.world_size
    return x[lo:hi]


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum of a short list of numbers over all ranks."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def gather_objects(obj, info: DistInfo) -> list:
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def backend_name() -> str | None:
    return dist.get_backend() if dist.is_initialized() else None


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
