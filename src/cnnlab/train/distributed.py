"""Distributed data-parallel training under ``torchrun``.

``torchrun --nproc_per_node=N -m cnnlab train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR/PORT`` set; :func:`setup` joins them into one
process group (gloo on CPU, nccl on CUDA). Each process trains on its own slice of every global
batch (the global batch is ``batch_size x N``, drawn from the one order fixed by (seed, epoch)),
gradients are averaged by ``DistributedDataParallel``, and only rank 0 writes the run folder. So
N processes compute the same updates as one process with an N times larger batch.

On a 2-core CPU, 2 ranks x 1 thread beat 1 process x 2 threads by 1.4-1.5x for LeNet-5 and tie
for ResNet-18 (docs/architecture.md; research note perf-anchors section 3.5).

Several machines: one ``torchrun --nnodes N --nproc-per-node P --rdzv-backend c10d
--rdzv-endpoint HOST:PORT`` agent per machine (docs/distributed.md). Elastic restarts
(``--max-restarts``, :func:`elastic`): torchrun restarts every process of the group when one dies;
the trainer finds the run folder (``--out``) that this job (:func:`elastic_run_id`, the rendezvous
id) was writing and resumes it from its last checkpoint, so a run survives a lost process with the
same weights. ``TORCHELASTIC_RESTART_COUNT`` (:func:`restart_count`) cannot decide that: torchrun
restarts the processes of the machines that did not fail with the count unchanged.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
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


RESTART_ENV = "TORCHELASTIC_RESTART_COUNT"
# a test hook for elastic restarts: rank CNNLAB_FAIL_RANK (default 1) exits abruptly after optimizer step
# CNNLAB_FAIL_AFTER_STEP, once: the marker file CNNLAB_FAIL_MARKER (required) records that it did
FAIL_ENV, FAIL_RANK_ENV, FAIL_MARKER_ENV = "CNNLAB_FAIL_AFTER_STEP", "CNNLAB_FAIL_RANK", "CNNLAB_FAIL_MARKER"


def restart_count() -> int:
    """How often torchrun has restarted this process group (0: the first attempt, or not torchrun)."""
    try:
        return int(os.environ.get(RESTART_ENV, "0"))
    except ValueError:
        return 0


def elastic() -> bool:
    """Whether torchrun may restart this group (``--max-restarts`` > 0)."""
    try:
        return int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0
    except ValueError:
        return False


def elastic_run_id() -> str | None:
    """torchrun's rendezvous id (``--rdzv-id``): the same for every attempt of one job."""
    return os.environ.get("TORCHELASTIC_RUN_ID")


def fail_if_asked(step: int, info: DistInfo) -> None:
    """Exit this process at once (no clean-up, as a crashed machine) if the fault-injection
    variables name this rank and step and the marker file does not exist yet; creates the marker."""
    at = os.environ.get(FAIL_ENV)
    marker = os.environ.get(FAIL_MARKER_ENV)
    if not at or not marker or step != int(at) or info.rank != int(os.environ.get(FAIL_RANK_ENV, "1")):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # exactly once, even across restarts
    except FileExistsError:
        return
    os.write(fd, f"rank {info.rank} exited after step {step}\n".encode())
    os.close(fd)
    os._exit(17)


@contextlib.contextmanager
def local_leaders_first(info: DistInfo) -> Iterator[None]:
    """Run the block on each machine's local rank 0 first, then on the other ranks (e.g. loading a data
    set whose decode cache the first fills and the others then read). An error still releases them."""
    leader = info.local_rank == 0
    if info.enabled and not leader:
        dist.barrier()
    try:
        yield
    finally:
        if info.enabled and leader:
            dist.barrier()


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


class _SyncBatchNormFn(torch.autograd.Function):
    """Batch norm over the union of all ranks' batches (Ioffe & Szegedy 2015, eq. in Alg. 1, with the
    sums all-reduced): forward all-reduces [sum x, sum x^2, count] per channel, backward all-reduces
    [sum dy, sum dy * x_hat]. Gradients are those of the sum of the ranks' losses, which DDP averages."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps, momentum, num_batches_tracked):
        dtype = x.dtype
        x = x.float()
        c = x.shape[1]
        dims = [d for d in range(x.dim()) if d != 1]
        # sums in float64: E[x^2] - E[x]^2 in float32 loses digits when |mean| >> std
        stats = torch.cat(
            [
                x.sum(dims, dtype=torch.float64),
                (x * x).sum(dims, dtype=torch.float64),
                torch.tensor([x.numel() / c], dtype=torch.float64),
            ]
        )
        dist.all_reduce(stats)
        n64 = stats[-1]
        mean64 = stats[:c] / n64
        var64 = (stats[c : 2 * c] / n64 - mean64 * mean64).clamp_min(0)
        n, mean, var = n64.float(), mean64.float(), var64.float()
        invstd = torch.rsqrt(var + eps)
        with torch.no_grad():
            if running_mean is not None:
                if num_batches_tracked is not None:
                    num_batches_tracked.add_(1)
                m = momentum if momentum is not None else 1.0 / float(num_batches_tracked)
                running_mean.mul_(1 - m).add_(mean, alpha=m)
                running_var.mul_(1 - m).add_((var64 * n64 / (n64 - 1).clamp_min(1)).float(), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        xhat = (x - mean.view(shape)) * invstd.view(shape)
        y = xhat * weight.float().view(shape) + bias.float().view(shape)
        ctx.save_for_backward(xhat, weight, invstd, n)
        ctx.dtype = dtype
        return y

    @staticmethod
    def backward(ctx, dy):
        xhat, weight, invstd, n = ctx.saved_tensors
        dy = dy.float()
        c = xhat.shape[1]
        dims = [d for d in range(dy.dim()) if d != 1]
        local = torch.cat([dy.sum(dims, dtype=torch.float64), (dy * xhat).sum(dims, dtype=torch.float64)])
        total = local.clone()
        dist.all_reduce(total)
        local, total = local.float(), total.float()
        shape = [1, c] + [1] * (dy.dim() - 2)
        dx = (weight.float() * invstd).view(shape) * (
            dy - (total[:c] / n).view(shape) - xhat * (total[c:] / n).view(shape)
        )
        return (dx.to(ctx.dtype), local[c:].to(weight.dtype), local[:c].to(weight.dtype), None, None, None, None, None)


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """SyncBatchNorm for CPU process groups (PyTorch's ``nn.SyncBatchNorm`` runs on GPUs only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        return _SyncBatchNormFn.apply(
            x,
            self.weight,
            self.bias,
            self.running_mean,
            self.running_var,
            self.eps,
            self.momentum,
            self.num_batches_tracked,
        )


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Batch norms -> synchronised ones (the same parameter and buffer objects, so optimizers keep working)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d) and child.affine and not isinstance(child, CpuSyncBatchNorm):
            new = CpuSyncBatchNorm.__new__(CpuSyncBatchNorm)
            new.__dict__ = child.__dict__  # share parameters, buffers and settings
            setattr(model, name, new)
        else:
            convert_sync_batchnorm(child, device)
    return model


def wrap(model: nn.Module, info: DistInfo, device: torch.device, sync_bn: bool) -> nn.Module:
    """``DistributedDataParallel`` around ``model`` (with synchronised batch norm if asked)."""
    if not info.enabled:
        return model
    if sync_bn:
        model = convert_sync_batchnorm(model, device)
    ids = [device.index] if device.type == "cuda" else None
    # a model that freezes parameters during training (airbench's whitening bias) leaves some unused
    unused = hasattr(model, "set_epoch")
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=unused)


def shard(x, info: DistInfo):
    """This rank's rows of a global batch, a tensor or a list (contiguous slices; equal sizes when divisible)."""
    if not info.enabled:
        return x
    n = len(x)
    lo, hi = n * info.rank // info.world_size, n * (info.rank + 1) // info.world_size
    return x[lo:hi]


def all_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Element-wise sum of a short list of numbers over all ranks."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def all_reduce_(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over all ranks, in place (nothing without DDP)."""
    if info.enabled:
        dist.all_reduce(t)
    return t


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
        try:
            dist.barrier()  # no rank tears gloo down while another still uses it
        finally:
            dist.destroy_process_group()
