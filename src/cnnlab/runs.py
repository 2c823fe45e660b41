"""Run folders: what a training run leaves behind, and how to read it back.

    RUN_DIR/
      config.json         the full configuration (enough to repeat the run)
      metrics.jsonl       one JSON object per epoch
      model.safetensors   final weights + metadata to rebuild the model and name its classes
      curves.png          loss and accuracy per epoch
      checkpoint/         state for exact resume (cnnlab.train)

Weights are only ever read through safetensors (never pickle).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CnnlabError

MODEL_FILE = "model.safetensors"
META_KEYS = ("model", "model_args", "classes", "input_size", "mean", "std", "background", "cnnlab_version")


def prepare_run_dir(path: str | Path, overwrite: bool) -> Path:
    """Create an empty run folder; an existing non-empty one needs ``overwrite``."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise CnnlabError(f"run folder {path} already exists and is not empty",
                              "pass --overwrite to replace it, --out to choose another folder, "
                              "or --resume to continue it")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())


def append_jsonl(path: Path, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def save_model(path: str | Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Save weights (state dict, buffers included) as safetensors with JSON metadata, atomically."""
    from . import __version__

    path = Path(path)
    meta = {**meta, "cnnlab_version": __version__}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={k: json.dumps(v) for k, v in meta.items()})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_model_meta(path: str | Path) -> dict[str, Any]:
    """The decoded metadata of a safetensors file (its header only: no tensor is read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"weight file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CnnlabError(f"{path}: not a readable safetensors file ({e})") from e
    meta = {}
    for k, v in raw.items():
        try:
            meta[k] = json.loads(v)
        except json.JSONDecodeError:
            meta[k] = v
    return meta


def read_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the decoded metadata of a safetensors file."""
    meta = read_model_meta(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CnnlabError(f"{path}: not a readable safetensors file ({e})") from e
    return tensors, meta


@dataclass
class LoadedRun:
    model: nn.Module
    meta: dict[str, Any]
    path: Path

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    def __repr__(self) -> str:
        from .notebook import short

        n = sum(p.numel() for p in self.model.parameters())
        return short(f"<LoadedRun {self.meta.get('model', '?')} from {self.path}: {len(self.classes)} classes, "
                     f"{n:,} parameters>")

    def _repr_html_(self) -> str:
        from .notebook import key_value_table

        n = sum(p.numel() for p in self.model.parameters())
        shown = {k: v for k, v in self.meta.items() if k != "classes"}
        classes = ", ".join(map(str, self.classes[:20])) + (" ..." if len(self.classes) > 20 else "")
        return key_value_table([("path", str(self.path)), ("parameters", n),
                                ("classes", f"{len(self.classes)}: {classes}"), *shown.items()],
                               caption=f"cnnlab run: {self.meta.get('model', '?')}")


def load_run(run_dir: str | Path, weights: str = MODEL_FILE) -> LoadedRun:
    """Rebuild a trained model from a run folder (or directly from a cnnlab ``.safetensors`` file)."""
    from .models import create_model

    run_dir = Path(run_dir)
    file = run_dir if run_dir.is_file() else run_dir / weights
    if not run_dir.exists():
        raise CnnlabError(f"run folder {run_dir} does not exist", "pass the folder that `cnnlab train` printed")
    if not file.is_file():
        raise CnnlabError(f"{run_dir} holds no {weights}",
                          "the run may not have finished; `cnnlab train --resume RUN_DIR` continues it")
    tensors, meta = read_model_file(file)
    missing = [k for k in ("model", "classes") if k not in meta]
    if missing:
        raise CnnlabError(f"{file}: no cnnlab metadata ({', '.join(missing)} missing)",
                          "this is not a file saved by cnnlab; use cnnlab.load_weights(model, path) instead")
    model = create_model(meta["model"], num_classes=len(meta["classes"]), **meta.get("model_args", {}))
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return LoadedRun(model, meta, file.parent)
