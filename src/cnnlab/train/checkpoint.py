"""Checkpoints for exact resume, in a safe format: one safetensors file, never a pickle.

A checkpoint is any nested structure of dicts, lists, numbers, strings and tensors (model,
optimizer and scheduler state dicts, EMA weights, RNG states, the position in the data order).
:func:`flatten` splits it into a flat ``{key: tensor}`` dict, stored as the safetensors payload,
and a JSON skeleton in which every tensor is replaced by ``{"__tensor__": key}``, stored in the
safetensors metadata. Reading it back never executes code.

Writes are atomic and keep the previous checkpoint until the new one is complete::

    checkpoint/.last.safetensors.XXXX.tmp   written and fsync'ed
    checkpoint/last.safetensors      ->  checkpoint/previous.safetensors   (rename)
    checkpoint/.last....tmp          ->  checkpoint/last.safetensors       (rename), fsync the folder

A kill at any moment leaves ``last`` or ``previous`` complete; :func:`load_checkpoint` takes
``last`` and falls back to ``previous`` if ``last`` is missing or unreadable.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CnnlabError
from ..runs import file_mode

CHECKPOINT_DIR = "checkpoint"
LAST = "last.safetensors"
PREVIOUS = "previous.safetensors"
FORMAT = "cnnlab-checkpoint-1"


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """The JSON skeleton of ``obj``; its tensors are moved into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        if any(not isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"checkpoint dict keys must be str or int, got {list(obj)[:3]}")
        # int keys (optimizer state) are kept apart so that they come back as ints
        return {"__dict__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        if isinstance(obj, float) and obj != obj:
            return {"__float__": "nan"}
        if isinstance(obj, float) and obj in (float("inf"), float("-inf")):
            return {"__float__": "inf" if obj > 0 else "-inf"}
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def unflatten(skel: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skel, dict):
        if "__tensor__" in skel:
            return tensors[skel["__tensor__"]]
        if "__float__" in skel:
            return float(skel["__float__"])
        return {k: unflatten(v, tensors) for k, v in skel["__dict__"]}
    if isinstance(skel, list):
        return [unflatten(v, tensors) for v in skel]
    return skel


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(run_dir: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically to ``RUN_DIR/checkpoint/last.safetensors`` (the old one -> previous)."""
    from ..runs import write_errors

    folder = Path(run_dir) / CHECKPOINT_DIR
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten(state, tensors)
    with write_errors(folder / LAST):  # a full disk: a clear error, and the previous checkpoint stays
        folder.mkdir(parents=True, exist_ok=True)
        return _write_atomically(folder, tensors, skeleton)


def _write_atomically(folder: Path, tensors: dict[str, torch.Tensor], skeleton: Any) -> Path:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{LAST}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": FORMAT, "state": json.dumps(skeleton)})
        os.chmod(tmp, file_mode())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        last = folder / LAST
        if last.exists():
            os.replace(last, folder / PREVIOUS)
        os.replace(tmp, last)
        _fsync_dir(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return last


def read_checkpoint_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CnnlabError(f"{path} is not a cnnlab checkpoint (format {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        return unflatten(json.loads(meta["state"]), tensors)
    except (SafetensorError, OSError, ValueError, KeyError) as e:
        raise CnnlabError(f"{path}: unreadable checkpoint ({e})") from e


def load_checkpoint(run_dir: str | Path) -> dict[str, Any]:
    """The newest complete checkpoint of a run folder (``last``, else ``previous``)."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    errors = []
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.is_file():
            continue
        try:
            return read_checkpoint_file(path)
        except CnnlabError as e:
            errors.append(str(e))
    raise CnnlabError(
        f"{run_dir} holds no readable checkpoint" + (f" ({'; '.join(errors)})" if errors else ""),
        "a run writes RUN_DIR/checkpoint/last.safetensors at every epoch end (and every "
        "--checkpoint-every steps); start it again without --resume",
    )


def has_checkpoint(run_dir: str | Path) -> bool:
    folder = Path(run_dir) / CHECKPOINT_DIR
    return (folder / LAST).is_file() or (folder / PREVIOUS).is_file()


# -- random number generators --------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from: Python's, NumPy's, torch's CPU and CUDA generators."""
    import random

    import numpy as np

    version, internal, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
