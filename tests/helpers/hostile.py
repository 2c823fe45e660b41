"""Generators of hostile inputs for the robustness suite (written into tmp_path by each test)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

# the sources under test (CNNLAB_TEST_SRC: run the suite against another tree, e.g. the code before a fix)
SRC = Path(os.environ.get("CNNLAB_TEST_SRC") or Path(__file__).resolve().parents[2] / "src")
CAP_BYTES = 4 << 30  # the address-space cap of every subprocess in this suite (4 GiB)


def png_stream(path: Path, width: int, height: int, mode: str = "L", rows: int | None = None) -> Path:
    """A PNG of ``width`` x ``height`` black pixels written row by row (tiny file, tiny memory here);
    ``rows`` < height truncates the pixel data after that many rows (a header that lies)."""
    colour, depth, channels = {"L": (0, 8, 1), "RGB": (2, 8, 3), "I;16": (0, 16, 1)}[mode]
    bpp = channels * depth // 8

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    line = b"\x00" * (1 + width * bpp)
    body = bytearray()
    for _ in range(height if rows is None else rows):
        body += comp.compress(line)
    body += comp.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)))
        f.write(chunk(b"IDAT", bytes(body)))
        f.write(chunk(b"IEND", b""))
    return path


def safetensors_bytes(header: dict | bytes, payload: bytes = b"", declared_len: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if declared_len is None else declared_len
    return struct.pack("<Q", n) + raw + payload


def tiny_splits(n: int = 64, size: int = 28, seed: int = 0, classes: int = 2):
    """A small in-memory DataSplits (random pictures, balanced labels) for fast trainer tests."""
    from cnnlab.data import DataSplits
    from cnnlab.data.dataset import ImageDataset

    g = torch.Generator().manual_seed(seed)
    names = [f"c{i}" for i in range(classes)]

    def split(k):
        return ImageDataset(
            torch.randint(0, 256, (k, 1, size, size), dtype=torch.uint8, generator=g), torch.arange(k) % classes, names
        )

    return DataSplits("tiny", split(n), split(n // 2))


def run_capped(
    code: str, cwd: Path, cap: int = CAP_BYTES, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a subprocess with this tree's sources and an address-space cap."""
    prelude = "import resource; resource.setrlimit(resource.RLIMIT_AS, (%d, %d))\n" % (cap, cap)
    full_env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OMP_NUM_THREADS": "1",
        "CNNLAB_CACHE": str(cwd / ".cache"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def cli_capped(args: list[str], cwd: Path, cap: int = CAP_BYTES, timeout: float = 300) -> subprocess.CompletedProcess:
    return run_capped("import sys\nfrom cnnlab.cli import main\nsys.exit(main(%r))" % (args,), cwd, cap, timeout)


def tree_snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under ``root`` (not following links) with its type, size and mtime; ``skip`` excluded."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath).resolve() == skip.resolve():
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if skip is not None and p.resolve() == skip.resolve():
                continue
            st = os.lstat(p)
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
