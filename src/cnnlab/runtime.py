"""Where and how tensors are computed: device choice, thread count, denormals.

Two traps on small CPUs (see docs/architecture.md, "Runtime"): OpenMP threads beyond the cores
that are actually free collapse throughput, and float32 denormals make fresh deep nets run
10-50x slower. :func:`configure` avoids both and is called once by every entry point that
computes (training, prediction, benchmarks).
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def configure(threads: int | None = None) -> int:
    """Set intra-op threads (default: the available cores) and flush float32 denormals.

    Returns the thread count in force.
    """
    n = threads if threads and threads > 0 else available_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    # Flush denormals to zero on the calling thread; the OpenMP workers inherit the MXCSR
    # state when the pool is (re)created by set_num_threads above.
    torch.set_flush_denormal(True)
    return n


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else is checked and returned."""
    from .errors import CnnlabError

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise CnnlabError(f"unknown device {name!r}", "use auto, cpu, cuda, cuda:N or mps") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CnnlabError("device 'cuda' was asked for but no CUDA GPU is available", "use --device cpu or auto")
    return device


def bf16_supported(device: torch.device) -> bool:
    """Whether bfloat16 autocast is fast here (AMX/AVX512-BF16 CPUs, Ampere+ GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False
