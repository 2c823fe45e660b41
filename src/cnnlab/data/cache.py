"""A decode cache: arrays keyed by what they were decoded from, so a second load skips decoding.

An entry is a folder ``<cache_root>/<kind>/<sha256 of the key>/`` with ``.npy`` arrays (read back
with ``allow_pickle=False``) and ``meta.json``. The key lists every source file with its size and
modification time plus the decoding parameters, so an edited, added or removed file makes a new
entry. Entries are written to a temporary folder and renamed into place (a killed run leaves no
half entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np


def file_key(paths) -> list[list]:
    """(path, size, mtime_ns) of each file: changes whenever a file is edited, added or removed."""
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([str(p), st.st_size, st.st_mtime_ns])
    return out


def entry_dir(root: Path, kind: str, key) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    return root / kind / digest


def load(root: Path, kind: str, key, mmap: bool = False) -> tuple[dict[str, np.ndarray], dict] | None:
    """An entry's arrays and metadata, or None; ``mmap`` maps the arrays instead of reading them."""
    d = entry_dir(root, kind, key)
    try:
        meta = json.loads((d / "meta.json").read_text())
        arrays = {
            name: np.load(d / f"{name}.npy", allow_pickle=False, mmap_mode="r" if mmap else None)
            for name in meta["arrays"]
        }
    except (OSError, ValueError, KeyError):
        return None
    if meta.get("key") != json.loads(json.dumps(key)):
        return None
    return arrays, meta


def store(root: Path, kind: str, key, arrays: dict[str, np.ndarray], meta: dict | None = None) -> Path | None:
    """Write an entry; returns its folder, or None when the cache folder is not writable."""
    d = entry_dir(root, kind, key)
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=d.parent))
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({**(meta or {}), "key": key, "arrays": list(arrays)}))
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        os.replace(tmp, d)
        return d
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True) if "tmp" in locals() else None
        return None


def build(root: Path, kind: str, key, shapes: dict[str, tuple[tuple[int, ...], str]], fill) -> Path | None:
    """Write an entry whose arrays are filled in place: ``shapes`` gives each array's (shape, dtype),
    ``fill(arrays)`` writes into the memory-mapped ``.npy`` files and returns the metadata. The
    arrays never sit in memory whole. Returns the entry's folder, or None when the cache folder is
    not writable."""
    d = entry_dir(root, kind, key)
    try:
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=d.parent))
    except OSError:
        return None
    try:
        arrays = {
            name: np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
            for name, (shape, dtype) in shapes.items()
        }
        meta = fill(arrays)
        for arr in arrays.values():
            arr.flush()
        del arrays
        (tmp / "meta.json").write_text(json.dumps({**(meta or {}), "key": key, "arrays": list(shapes)}))
        return _publish(tmp, d, root, kind, key)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, d: Path, root: Path, kind: str, key) -> Path:
    """Rename a finished entry into place. Another process (a rank of the same run) may have
    published the same entry meanwhile: a readable one is kept and ours dropped."""
    if load(root, kind, key, mmap=True) is not None:
        shutil.rmtree(tmp, ignore_errors=True)
        return d
    if d.exists():
        shutil.rmtree(d, ignore_errors=True)
    try:
        os.replace(tmp, d)
    except OSError:
        if load(root, kind, key, mmap=True) is None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return d
