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


def file_mode() -> int:
    """0666 less the process umask: what ``open(path, "w")`` would give (0644 under the usual umask 022).

    ``tempfile.mkstemp`` creates 0600 files; run files are meant to be read by others (a web
    server, a colleague), so the temporary file gets this mode before it is renamed.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over ``path`` (mode 0666 - umask)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())
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
        os.chmod(tmp, file_mode())
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
class ModelRef:
    """A trained cnnlab model named by a run folder or by its ``.safetensors`` file, before loading.

    The one resolver behind every command that takes a model: ``predict``, ``evaluate``,
    ``summary``, ``compare``, ``weights`` (a run folder is a model everywhere).
    """

    weights: Path  # the cnnlab .safetensors file
    meta: dict[str, Any]  # its metadata: model, model_args, classes, input_size, mean, std, ...
    run_dir: Path | None  # the run folder (config.json, metrics.jsonl) or None for a bare weight file

    @property
    def name(self) -> str:
        return self.meta["model"]

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    @property
    def input_size(self) -> tuple[int, int, int] | None:
        size = self.meta.get("input_size")
        return tuple(size) if size else None  # type: ignore[return-value]

    @property
    def label(self) -> str:
        return str(self.run_dir or self.weights)

    def config(self) -> dict[str, Any]:
        """The run's config.json (``{}`` for a bare weight file or an unreadable config)."""
        path = (self.run_dir / "config.json") if self.run_dir else None
        if path is None or not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def build(self, load: bool = True) -> nn.Module:
        """The network in eval mode, with the trained weights (``load=False``: the architecture only)."""
        if "model_source" in self.meta:  # an unregistered nn.Module (cnnlab.fit(model=MyNet()))
            from .train.inputs import rebuild

            model = rebuild(self.meta["model_source"], self.label)
        else:
            model = self._create()
        if load:
            self.load_into(model)
        return model.eval()

    def _create(self) -> nn.Module:
        import importlib

        from .errors import UnknownNameError
        from .models import create_model

        module = self.meta.get("model_module")  # a model the user registered in their own module
        if module and module != "__main__":
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise CnnlabError(f"{self.label} uses model {self.name}, registered in {module}, which cannot be "
                                  f"imported here ({e})", f"make {module} importable (PYTHONPATH) and try again, "
                                  f"or load_run({self.label!r}, model=your_network)") from None
        try:
            return create_model(self.name, num_classes=len(self.classes), **self.meta.get("model_args", {}))
        except UnknownNameError:
            if not module:
                raise
            raise CnnlabError(f"{self.label} uses model {self.name}, registered in {module}, which did not register "
                              "it here", f"import the module that registers {self.name} first, or "
                              f"load_run({self.label!r}, model=your_network)") from None

    def load_into(self, model: nn.Module) -> nn.Module:
        """Load this file's weights into ``model`` (a network built by the caller), strictly."""
        tensors, _ = read_model_file(self.weights)
        try:
            model.load_state_dict(tensors, strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()
            raise CnnlabError(f"{self.weights} does not fit the given {type(model).__name__}: "
                              f"{' '.join(first[:3])[:400]}",
                              "build the network with the same arguments as the one that was trained") from None
        return model


def looks_like_run(text: str | Path) -> bool:
    """Whether ``text`` names a run folder or a ``.safetensors`` file (rather than a registered model name)."""
    p = Path(text)
    return (p.is_dir() and ((p / MODEL_FILE).is_file() or (p / "config.json").is_file())) or \
        (p.is_file() and p.suffix == ".safetensors")


def resolve_model(path: str | Path, weights: str = MODEL_FILE) -> ModelRef:
    """A run folder (its ``weights`` file, default model.safetensors) or a cnnlab .safetensors file."""
    path = Path(path)
    if not path.exists():
        raise CnnlabError(f"run folder {path} does not exist", "pass the folder that `cnnlab train` printed")
    file = path if path.is_file() else path / weights
    if not file.is_file():
        raise CnnlabError(f"{path} holds no {weights}",
                          "the run may not have finished; `cnnlab train --resume RUN_DIR` continues it")
    meta = read_model_meta(file)
    missing = [k for k in ("model", "classes") if k not in meta]
    if missing:
        raise CnnlabError(f"{file}: no cnnlab metadata ({', '.join(missing)} missing)",
                          "this is not a file saved by cnnlab; use cnnlab.load_weights(model, path) instead")
    run_dir = file.parent if (file.parent / "config.json").is_file() else None
    return ModelRef(file, meta, run_dir)


@dataclass
class LoadedRun:
    model: nn.Module
    meta: dict[str, Any]
    path: Path
    ref: ModelRef | None = None

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]


def load_run(run_dir: str | Path, weights: str = MODEL_FILE, model: nn.Module | None = None) -> LoadedRun:
    """Rebuild a trained model from a run folder (or directly from a cnnlab ``.safetensors`` file).

    ``model``: a network you built (e.g. an unregistered ``nn.Module`` whose constructor arguments
    were not recorded); the run's weights are loaded into it.
    """
    ref = resolve_model(run_dir, weights)
    net = ref.build() if model is None else ref.load_into(model).eval()
    return LoadedRun(net, ref.meta, ref.weights.parent, ref)
