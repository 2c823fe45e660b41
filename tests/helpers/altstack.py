"""A large alternate signal stack for the test process.

On a CPU with AMX, the signal frame the kernel builds holds the AMX tile state once the thread has
used AMX (the bf16 tests do): about 11 KB of XSAVE data on top of the rest. CPython installs its
handlers for Python-level signal handlers with SA_ONSTACK, so they run on the alternate stack. This
includes PyTorch's DataLoader SIGCHLD handler, which stays installed after the worker tests. The
alternate stack that faulthandler sets up (about 20 KB here) was then too small: when a later test's
subprocess exited, the kernel could not build the SIGCHLD frame and killed pytest with SIGSEGV
(si_code SI_KERNEL, no Python traceback). A 1 MiB alternate stack removes that failure.
"""

from __future__ import annotations

import ctypes
import sys

SIZE = 1 << 20
_buffers: list = []  # the stack memory must outlive the process's use of it


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def current_size() -> int:
    """The calling thread's alternate signal stack size in bytes (0 when none, or not on Linux)."""
    if sys.platform != "linux":
        return 0
    old = _StackT()
    ctypes.CDLL(None).sigaltstack(None, ctypes.byref(old))
    return 0 if old.ss_flags & 2 else int(old.ss_size)  # SS_DISABLE = 2


def install(size: int = SIZE) -> bool:
    """Give the calling thread an alternate signal stack of ``size`` bytes unless it has one that large."""
    if sys.platform != "linux" or current_size() >= size:
        return False
    buf = ctypes.create_string_buffer(size)
    _buffers.append(buf)
    new = _StackT(ctypes.cast(buf, ctypes.c_void_p).value, 0, size)
    return ctypes.CDLL(None, use_errno=True).sigaltstack(ctypes.byref(new), None) == 0
