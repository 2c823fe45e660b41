"""Run folders: what a training run leaves behind, and how to read it back.

    RUN_DIR/
      config.json         the full configuration (enough to repeat the run)
      metrics.jsonl       one JSON object per epoch
      model.safetensors   final weights + metadata to rebuild the model and name its classes
      curves.png          loss and accuracy per epoch
      checkpoint/         state for exact resume (cnnlab.train)
      .cnnlab.lock        the writer's OS lock (``claim_run_dir``), free once its process ends

Weights are only ever read through safetensors (never pickle). Run folders are claimed with
:func:`claim_run_dir` (only cnnlab runs are ever replaced; one writer at a time), and everything
read back from them (:func:`read_run_config`, :func:`load_run`) is validated as untrusted input.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CnnlabError, printable

MODEL_FILE = "model.safetensors"
META_KEYS = ("model", "model_args", "classes", "input_size", "mean", "std", "background", "cnnlab_version")


# -- run folders: recognising, claiming, locking ----------------------------------------------
LOCK_FILE = ".cnnlab.lock"
# what a run folder may hold for cnnlab to replace it on --overwrite: files of these kinds (in the
# folder or in sub-folders such as checkpoint/) and cnnlab's own hidden lock and temporary files
RUN_SUFFIXES = {".json", ".jsonl", ".safetensors", ".png", ".csv", ".onnx"}


def _temp_name(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def run_dir_problem(path: str | Path) -> str | None:
    """Why ``path`` is not recognisably a cnnlab run folder (None if it is one).

    A run folder has a ``config.json`` naming a model and a data set (as ``cnnlab train`` writes it)
    and holds nothing but cnnlab's kinds of files (JSON, metrics, safetensors, PNG plots, CSV/ONNX
    reports, its lock and temporary files), so replacing it cannot delete anything else.
    """
    path = Path(path)
    if path.is_symlink():
        return f"{path} is a symbolic link (to {os.readlink(path)}); cnnlab replaces only real folders"
    if not path.is_dir():
        return f"{path} is not a folder"
    config = path / "config.json"
    try:
        cfg = json.loads(config.read_text())
    except FileNotFoundError:
        return f"{path} has no config.json"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{config} is not a readable cnnlab configuration ({e.__class__.__name__})"
    if not (isinstance(cfg, dict) and isinstance(cfg.get("model"), str) and isinstance(cfg.get("data"), str)):
        return f"{config} is not a cnnlab run configuration (no model and data entries)"
    foreign = []
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames:
            if (Path(dirpath) / name).is_symlink():
                foreign.append(str(Path(dirpath, name).relative_to(path)) + " (a link)")
        for name in filenames:
            ours = Path(name).suffix in RUN_SUFFIXES or (
                Path(dirpath).name == "tensorboard" and name.startswith("events.out.tfevents.")
            )  # --log
            if name == LOCK_FILE or _temp_name(name) or (ours and not Path(dirpath, name).is_symlink()):
                continue
            foreign.append(str(Path(dirpath, name).relative_to(path)))
    if foreign:
        shown = ", ".join(printable(f, 80) for f in sorted(foreign)[:5]) + (" ..." if len(foreign) > 5 else "")
        return f"{path} holds files cnnlab does not write: {shown}"
    return None


def clean_temp_files(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed atomic writes left in a run folder (call with the lock held)."""
    removed = []
    for folder in (Path(path), Path(path) / "checkpoint"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if _temp_name(entry.name) and entry.is_file() and not entry.is_symlink():
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def _lock(folder: Path) -> int:
    """An exclusive ``flock`` on ``folder/.cnnlab.lock`` (its descriptor); refused if another process holds it.

    The OS releases the lock when its process ends, however it ends: a lock file left by a killed
    run is simply free, so no stale lock ever needs deleting.
    """
    import fcntl

    lock = folder / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise CnnlabError(
            f"cannot lock the run folder {folder} ({e.strerror})", "choose a folder you can write with --out"
        ) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
        finally:
            os.close(fd)
        who = f"process {printable(holder[0], 20)}" if holder else "another process"
        raise CnnlabError(
            f"run folder {folder} is in use: cnnlab {who} is writing it",
            "wait for that run to finish (or stop it), or choose another folder with --out",
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {os.uname().nodename}\n".encode(), 0)
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)  # closing the descriptor releases the flock


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as e:
        raise CnnlabError(f"--out {path}: exists and is not a folder", "choose a folder name with --out") from e
    except NotADirectoryError as e:
        raise CnnlabError(f"--out {path}: a parent of it is a file, not a folder", "choose another --out") from e
    except OSError as e:
        raise CnnlabError(
            f"--out {path}: cannot create the run folder ({e.strerror})", "choose a writable folder with --out"
        ) from e


@contextlib.contextmanager
def claim_run_dir(path: str | Path, overwrite: bool = False, resume: bool = False) -> Iterator[Path]:
    """Prepare ``path`` as the run folder and hold an exclusive lock on it for the ``with`` block.

    - a new or empty folder is used as it is;
    - ``resume``: ``path`` must be a run folder; it is kept and locked;
    - an existing non-empty folder needs ``overwrite`` and must be recognisably a cnnlab run (see
      :func:`run_dir_problem`); anything else is refused with the reason. The new run is created
      beside it (``.NAME.new-XXXX``) and swapped in by two renames before the old run is deleted,
      so a failed start leaves the old run in place;
    - a folder another process holds is refused (one writer per run folder).

    Temporary files of killed atomic writes are removed once the lock is held.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CnnlabError(f"--out {path}: exists and is not a folder", "choose a folder name with --out")
    held: list[int] = []  # the lock's descriptor once taken
    try:
        if path.is_dir() and not path.is_symlink() and (path / LOCK_FILE).is_file():
            held.append(_lock(path))  # a folder a running cnnlab holds is refused first, whatever it holds yet
        _claim(path, overwrite, resume, held)
        clean_temp_files(path)
    except BaseException:
        for fd in held:
            _unlock(fd)
        raise
    try:
        yield path
    finally:
        _unlock(held[0])


def _claim(path: Path, overwrite: bool, resume: bool, held: list[int]) -> None:
    """The checks of :func:`claim_run_dir`; leaves the lock's descriptor in ``held``."""

    def lock() -> None:
        if not held:
            held.append(_lock(path))

    if resume:
        problem = run_dir_problem(path)
        if problem and not (path / "config.json").is_file():
            raise CnnlabError(f"cannot resume: {problem}", "pass the folder `cnnlab train` printed")
        return lock()
    if not path.exists() or all(p.name == LOCK_FILE or _temp_name(p.name) for p in path.iterdir()):
        _mkdir(path)
        return lock()
    problem = run_dir_problem(path)
    if problem is not None:
        raise CnnlabError(
            f"run folder {path} already exists and is not empty; "
            + (f"--overwrite refused: {problem}" if overwrite else "it is not a cnnlab run folder"),
            "cnnlab replaces only its own run folders; choose another folder with --out (it is created)",
        )
    lock()
    if not overwrite:
        raise CnnlabError(
            f"run folder {path} already exists and is not empty",
            "pass --overwrite to replace it, --out to choose another folder, or --resume to continue it",
        )
    held[0] = _swap_in_new(path, held[0])


def _swap_in_new(path: Path, old_fd: int) -> int:
    """Replace the locked run folder ``path`` by a new empty one; returns the new folder's lock."""
    parent = path.parent
    try:
        new = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=parent))
    except OSError as e:
        raise CnnlabError(
            f"cannot create the new run folder beside {path} ({e.strerror})",
            "the old run is unchanged; choose a writable folder with --out",
        ) from e
    new_fd = _lock(new)
    aside = parent / f".{path.name}.old-{os.getpid()}-{new.name.rsplit('-', 1)[-1]}"
    try:
        os.rename(path, aside)
        try:
            os.rename(new, path)
        except BaseException:
            os.rename(aside, path)
            raise
    except OSError as e:
        _unlock(new_fd)
        shutil.rmtree(new, ignore_errors=True)
        raise CnnlabError(f"cannot replace the run folder {path} ({e.strerror})", "the old run is unchanged") from e
    _unlock(old_fd)
    shutil.rmtree(aside, ignore_errors=True)
    return new_fd


def prepare_run_dir(path: str | Path, overwrite: bool) -> Path:
    """Create an empty run folder (see :func:`claim_run_dir`, which also locks it for the run's life)."""
    with claim_run_dir(path, overwrite) as run_dir:
        return run_dir


def read_run_config(run_dir: str | Path) -> dict:
    """``RUN_DIR/config.json`` as a dict, with an error naming the file if it is missing or corrupt."""
    path = Path(run_dir) / "config.json"
    if not Path(run_dir).is_dir():
        raise CnnlabError(f"{run_dir} is not a run folder (no such folder)", "pass the folder `cnnlab train` printed")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CnnlabError(
            f"{run_dir} is not a run folder (no config.json)", "pass the folder `cnnlab train` printed"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CnnlabError(
            f"{path}: not a readable run configuration ({e.__class__.__name__}: {e})",
            "the file is damaged; start the run again (--overwrite) or restore config.json",
        ) from e
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise CnnlabError(
            f"{path}: not a cnnlab run configuration (no model entry)",
            "start the run again (--overwrite) or restore config.json",
        )
    return config


# -- resume: is it the same data? ---------------------------------------------------------------
FINGERPRINT_SAMPLES = 512


def data_fingerprint(data) -> dict[str, Any]:
    """A cheap fingerprint of a data set's content: its name, classes, split sizes, image shape and a
    SHA-256 of every label plus a strided sample of images (at most 512 per split).

    It ignores where the data lives (a moved folder is the same data) and catches a different data
    set, another split, another image size or edited files at the sampled positions.
    """
    import hashlib

    h = hashlib.sha256()
    parts = {"name": data.name, "classes": list(data.classes)}
    for split_name in ("train", "val"):
        split = getattr(data, split_name)
        n = len(split)
        parts[split_name] = [n, *split.image_shape] if n else [0]
        h.update(split_name.encode())
        labels = split.labels if split.labels.dtype == torch.uint8 else split.labels.to(torch.int64)  # uint8: masks
        h.update(labels.contiguous().numpy().tobytes())
        if n:
            idx = torch.linspace(0, n - 1, min(n, FINGERPRINT_SAMPLES)).round().long().unique()
            h.update(split.images[idx].contiguous().numpy().tobytes())
    parts["sha256"] = h.hexdigest()
    return parts


def check_data_fingerprint(run_dir: str | Path, current: dict[str, Any], allow_changed: bool = False) -> str | None:
    """Refuse to resume ``run_dir`` on data other than it was trained on (unless ``allow_changed``).

    Returns a note for the user (``None`` if there is nothing to say)."""
    recorded = (read_run_config(run_dir).get("resolved") or {}).get("data_fingerprint")
    if not isinstance(recorded, dict):
        return f"{run_dir} records no data fingerprint (written by an older cnnlab): the data is not checked"
    if recorded == current:
        return None
    diffs = [
        f"{k}: {printable(recorded.get(k), 60)} -> {printable(current.get(k), 60)}"
        for k in ("name", "classes", "train", "val", "sha256")
        if recorded.get(k) != current.get(k)
    ]
    if allow_changed:
        return "resuming on changed data (--data-changed): " + "; ".join(diffs)
    raise CnnlabError(
        f"cannot resume {run_dir}: the data differs from the data it was trained on (" + "; ".join(diffs) + ")",
        "resume with the same data (it may have moved: --data NAME:NEW_PATH), start a new run, "
        "or pass --data-changed to continue on this data anyway (the run is then no longer "
        "reproducible)",
    )


def file_mode() -> int:
    """0666 less the process umask: what ``open(path, "w")`` would give (0644 under the usual umask 022).

    ``tempfile.mkstemp`` creates 0600 files; run files are meant to be read by others (a web
    server, a colleague), so the temporary file gets this mode before it is renamed.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over ``path`` (mode 0666 less
    the umask, i.e. 0644, not mkstemp's 0600).

    A failed write (full disk, read-only folder) leaves the previous ``path`` as it was and raises a
    :class:`CnnlabError` naming the file."""
    path = Path(path)
    with write_errors(path):
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


@contextlib.contextmanager
def write_errors(path: Path) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` into a :class:`CnnlabError` that names it."""
    try:
        yield
    except SafetensorError as e:  # safetensors reports its I/O errors (a full disk) as SafetensorError
        raise CnnlabError(
            f"cannot write {path}: {printable(e, 200)}",
            "free some space or choose a writable folder; the file's previous version (if any) is unchanged",
        ) from e
    except OSError as e:
        if isinstance(e, (FileNotFoundError, NotADirectoryError)) and not Path(path).parent.is_dir():
            raise CnnlabError(
                f"cannot write {path}: the folder {Path(path).parent} does not exist",
                "create the folder first or choose another path",
            ) from e
        what = {
            errno.ENOSPC: "the disk is full",
            errno.EDQUOT: "the disk quota is exceeded",
            errno.EFBIG: "the file is too large for this file system",
            errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied",
            errno.EPERM: "permission denied",
        }.get(e.errno, e.strerror or str(e))
        raise CnnlabError(
            f"cannot write {path}: {what}",
            "free some space or choose a writable folder; the file's previous version (if any) is unchanged",
        ) from e


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
    if path.suffix != ".safetensors":
        raise CnnlabError(
            f"cannot write {path}: cnnlab saves weights as .safetensors", f"use {path.with_suffix('.safetensors')}"
        )
    with write_errors(path):
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

    from .images import check_regular_file

    path = Path(path)
    check_regular_file(path, "a weight file")
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
        if load:  # through load_run: the file's tensors are checked against the network first
            return load_run(self.weights).model
        if "model_source" in self.meta:  # an unregistered nn.Module (cnnlab.fit(model=MyNet()))
            from .train.inputs import rebuild

            return rebuild(self.meta["model_source"], self.label).eval()
        from .models import create_model

        return create_model(self.name, num_classes=len(self.classes), **_channel_args(self.meta)).eval()


def looks_like_run(text: str | Path) -> bool:
    """Whether ``text`` names a run folder or a ``.safetensors`` file (rather than a registered model name)."""
    p = Path(text)
    return (p.is_dir() and ((p / MODEL_FILE).is_file() or (p / "config.json").is_file())) or (
        p.is_file() and p.suffix == ".safetensors"
    )


def resolve_model(path: str | Path, weights: str = MODEL_FILE) -> ModelRef:
    """A run folder (its ``weights`` file, default model.safetensors) or a cnnlab .safetensors file."""
    file, meta = _weights_and_meta(Path(path), weights)
    _import_model_module(meta, file)  # a model registered in the user's module: trusted modules only
    meta = validate_meta(meta, file)
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

    def __repr__(self) -> str:
        from .notebook import short

        n = sum(p.numel() for p in self.model.parameters())
        return short(
            f"<LoadedRun {self.meta.get('model', '?')} from {self.path}: {len(self.classes)} classes, {n:,} parameters>"
        )

    def _repr_html_(self) -> str:
        from .notebook import key_value_table

        n = sum(p.numel() for p in self.model.parameters())
        shown = {k: v for k, v in self.meta.items() if k != "classes"}
        classes = ", ".join(map(str, self.classes[:20])) + (" ..." if len(self.classes) > 20 else "")
        return key_value_table(
            [
                ("path", str(self.path)),
                ("parameters", n),
                ("classes", f"{len(self.classes)}: {classes}"),
                *shown.items(),
            ],
            caption=f"cnnlab run: {self.meta.get('model', '?')}",
        )


# -- metadata is untrusted input ------------------------------------------------------------------
MAX_INPUT_SIDE = 4096
MAX_INPUT_CHANNELS = 16
MAX_CLASSES = 100_000


def validate_meta(meta: dict[str, Any], file: str | Path) -> dict[str, Any]:
    """Check the metadata of a cnnlab weight file before anything is built from it.

    ``model`` must be a registered name, ``model_args`` a table of plain values, ``classes`` a list
    of strings (control characters are escaped: they are display labels), ``input_size`` three
    positive integers within bounds, ``mean``/``std`` one finite number per channel with ``std > 0``.
    Returns the checked metadata; a bad field is a :class:`CnnlabError` naming the file and field.
    """
    from .models.registry import list_models

    def bad(field: str, why: str) -> CnnlabError:
        value = printable(repr(meta.get(field)), 80)
        return CnnlabError(
            f"{file}: metadata field {field!r} = {value} {why}",
            "the file is damaged or was not written by cnnlab; retrain or re-save it",
        )

    out = dict(meta)
    name = meta.get("model")
    if not isinstance(name, str):
        raise bad("model", "is not a model name")
    source = meta.get("model_source")  # an unregistered nn.Module: built from its class (train/inputs.py)
    if source is not None and not (
        isinstance(source, dict)
        and isinstance(source.get("import"), str)
        and (source.get("kwargs") is None or isinstance(source["kwargs"], dict))
    ):
        raise bad("model_source", "is not {'import': 'module:Class', 'kwargs': {...}}")
    if source is None and name not in list_models():
        module = meta.get("model_module")
        where = f" (registered by {printable(module, 80)}, which did not register it)" if module else ""
        raise bad("model", f"is not a registered model{where} (see `cnnlab models`)")
    args = meta.get("model_args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict) or not all(isinstance(k, str) and k.isidentifier() for k in args):
        raise bad("model_args", "is not a table of builder options")
    if "num_classes" in args:
        raise bad("model_args", "sets num_classes (it follows from the class names)")
    if not all(_plain_value(v) for v in args.values()):
        raise bad("model_args", "holds values that are not numbers, strings, booleans or lists of them")
    out["model_args"] = args
    classes = meta.get("classes")
    if (
        not isinstance(classes, list)
        or not classes
        or len(classes) > MAX_CLASSES
        or not all(isinstance(c, (str, int)) for c in classes)
    ):
        raise bad("classes", f"is not a list of 1 to {MAX_CLASSES:,} class names")
    out["classes"] = [printable(c, 200) for c in classes]
    size = meta.get("input_size")
    if size is not None:
        if not (
            isinstance(size, list)
            and len(size) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise bad("input_size", "is not three positive integers [C, H, W]")
        if size[0] > MAX_INPUT_CHANNELS or max(size[1:]) > MAX_INPUT_SIDE:
            raise bad(
                "input_size",
                f"is out of bounds (at most {MAX_INPUT_CHANNELS} channels and {MAX_INPUT_SIDE} pixels a side)",
            )
    channels = size[0] if size is not None else None
    for field, positive in (("mean", False), ("std", True)):
        v = meta.get(field)
        if v is None:
            continue
        if not (isinstance(v, list) and v and all(_is_number(x) and math.isfinite(x) for x in v)):
            raise bad(field, "is not a list of finite numbers")
        if channels is not None and len(v) != channels:
            raise bad(field, f"has {len(v)} values for {channels} input channels")
        if positive and min(v) <= 0:
            raise bad(field, "holds a value <= 0 (inputs would be divided by it)")
    if meta.get("background") not in (None, "dark", "light"):
        raise bad("background", "is neither 'dark' nor 'light'")
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _plain_value(v) -> bool:
    if isinstance(v, list):
        return len(v) <= 1000 and all(_plain_value(x) for x in v)
    return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 1000)


def check_tensors(
    tensors: dict[str, torch.Tensor], file: str | Path, expected: dict[str, torch.Tensor] | None = None
) -> None:
    """Refuse floating-point weights holding NaN or infinity, and integer tensors where ``expected``
    (the model's state dict) has floating-point ones, naming the tensors."""
    nonfinite = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if nonfinite:
        raise CnnlabError(
            f"{file}: {len(nonfinite)} tensor(s) hold NaN or infinite values: "
            + ", ".join(printable(k, 80) for k in nonfinite[:5])
            + (" ..." if len(nonfinite) > 5 else ""),
            "the training that wrote them diverged; use an earlier checkpoint (best.safetensors) or "
            "retrain with a lower --lr",
        )
    if expected is not None:
        wrong = [
            f"{printable(k, 80)} ({v.dtype}, the model needs {expected[k].dtype})"
            for k, v in tensors.items()
            if k in expected and expected[k].is_floating_point() and not v.is_floating_point()
        ]
        if wrong:
            raise CnnlabError(
                f"{file}: integer tensor(s) where the model has floating-point weights: "
                + ", ".join(wrong[:5])
                + (" ..." if len(wrong) > 5 else ""),
                "this is not a weight file of this network (or it was quantized); use the float file",
            )


def load_run(run_dir: str | Path, weights: str = MODEL_FILE, model: nn.Module | None = None) -> LoadedRun:
    """Rebuild a trained model from a run folder (or directly from a cnnlab ``.safetensors`` file).

    The file's metadata is validated (:func:`validate_meta`) and the network is first built on the
    meta device and compared with the file's tensor shapes, so a tampered file allocates nothing
    beyond its own size before it is refused.

    ``model``: a network you built (an unregistered ``nn.Module`` whose constructor arguments were
    not recorded, ``cnnlab.fit(model=MyNet(...))``); the run's weights are loaded into it. A model
    registered in the user's own module (``model_module`` in the metadata) imports that module first.
    """
    file, meta = _weights_and_meta(Path(run_dir), weights)
    _import_model_module(meta, file)
    meta = validate_meta(meta, file)
    shapes = _header_shapes(file)
    label = str(file.parent if file.parent.joinpath("config.json").is_file() else file)
    skeleton = _build_network(meta, file, label, model, "meta")
    _check_shapes({k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, shapes, file, meta, model)
    if meta.get("input_size") is not None and model is None:
        _check_input_size(skeleton, meta, file)
    model = _build_network(meta, file, label, model, "cpu")
    tensors, _ = read_model_file(file)
    check_tensors(tensors, file, model.state_dict())
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return LoadedRun(
        model, meta, file.parent, ModelRef(file, meta, file.parent if (file.parent / "config.json").is_file() else None)
    )


def _build_network(meta: dict, file: Path, label: str, given: nn.Module | None, device: str) -> nn.Module:
    """The network a validated metadata describes, built on ``device`` (``given``: the caller's, as it is)."""
    from .models import create_model

    if given is not None:  # the caller's network (already built: checked and loaded as it is)
        return given
    if "model_source" in meta:
        from .train.inputs import rebuild

        with torch.device(device):
            return rebuild(meta["model_source"], label)
    try:
        with torch.device(device):
            return create_model(meta["model"], num_classes=len(meta["classes"]), **_channel_args(meta))
    except CnnlabError as e:
        raise CnnlabError(f"{file}: metadata does not build {meta['model']}: {e.message}", e.hint) from e
    except (TypeError, ValueError, RuntimeError, KeyError, IndexError, OverflowError, ZeroDivisionError) as e:
        raise CnnlabError(
            f"{file}: metadata field 'model_args' does not build {meta['model']} "
            f"({e.__class__.__name__}: {printable(e, 200)})",
            "the file is damaged or was written by another cnnlab version",
        ) from e


def _check_shapes(expected: dict, shapes: dict, file: Path, meta: dict, given: nn.Module | None) -> None:
    """Refuse a file whose tensor names and shapes are not the network's (built on the meta device)."""
    if expected == shapes:
        return
    missing = sorted(set(expected) - set(shapes))
    extra = sorted(set(shapes) - set(expected))
    differ = [k for k in expected if k in shapes and expected[k] != shapes[k]]
    detail = "; ".join(
        part
        for part in (
            f"{len(missing)} missing (e.g. {printable(missing[0], 60)})" if missing else "",
            f"{len(extra)} unexpected (e.g. {printable(extra[0], 60)})" if extra else "",
            f"{len(differ)} of another shape (e.g. {printable(differ[0], 60)}: file {shapes[differ[0]]}, "
            f"model {expected[differ[0]]})"
            if differ
            else "",
        )
        if part
    )
    if given is not None:
        raise CnnlabError(
            f"{file}: its tensors do not fit the given {type(given).__name__} ({detail})",
            "build the network with the same arguments as the one that was trained",
        )
    raise CnnlabError(
        f"{file}: its tensors do not fit the {meta['model']} its metadata describes ({detail})",
        "the file is damaged or its metadata was edited; retrain or re-save it",
    )


def _check_input_size(skeleton: nn.Module, meta: dict, file: Path) -> None:
    """A shape-only forward on the meta device: does the recorded input size fit the network?"""
    try:
        with torch.no_grad():
            skeleton.eval()(torch.empty(1, *meta["input_size"], device="meta"))
    except Exception as e:  # noqa: BLE001 - any failure means the metadata does not describe this network
        raise CnnlabError(
            f"{file}: metadata field 'input_size' = {meta['input_size']} does not fit "
            f"{meta['model']} ({e.__class__.__name__}: {printable(e, 160)})",
            "the file is damaged or its metadata was edited; retrain or re-save it",
        ) from e


def _weights_and_meta(path: Path, weights: str) -> tuple[Path, dict[str, Any]]:
    """The weight file of a run folder (or the file itself) and its raw, not yet validated, metadata."""
    from .images import check_regular_file

    if not path.exists():
        raise CnnlabError(f"run folder {path} does not exist", "pass the folder that `cnnlab train` printed")
    file = path / weights if path.is_dir() else path
    if path.is_dir() and not file.exists():
        raise CnnlabError(
            f"{path} holds no {weights}", "the run may not have finished; `cnnlab train --resume RUN_DIR` continues it"
        )
    check_regular_file(file, "a weight file")
    meta = read_model_meta(file)
    missing = [k for k in ("model", "classes") if k not in meta]
    if missing:
        raise CnnlabError(
            f"{file}: no cnnlab metadata ({', '.join(missing)} missing)",
            "this is not a file saved by cnnlab; use cnnlab.load_weights(model, path) instead",
        )
    return file, meta


def _import_model_module(meta: dict[str, Any], file: Path) -> None:
    """A model the user registered in their own module: import it so its name is registered here."""

    module = meta.get("model_module")
    if not module or module == "__main__" or meta.get("model") in _registered():
        return
    if not (isinstance(module, str) and all(part.isidentifier() for part in module.split("."))):
        raise CnnlabError(
            f"{file}: metadata field 'model_module' = {printable(repr(module), 80)} is not a module name",
            "the file is damaged or its metadata was edited; retrain or re-save it",
        )
    from .train.inputs import import_trusted

    try:
        import_trusted(module, str(file))
    except ImportError as e:
        raise CnnlabError(
            f"{file} uses model {printable(meta.get('model'), 80)}, registered in {module}, which "
            f"cannot be imported here ({printable(e, 160)})",
            f"make {module} importable (PYTHONPATH) and try again, or pass the network: "
            f"cnnlab.load_run(RUN_DIR, model=your_network)",
        ) from None


def _registered() -> list[str]:
    from .models.registry import list_models

    return list_models()


def _header_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors header (no tensor is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CnnlabError(f"{file}: not a readable safetensors file ({e})") from e


def _channel_args(meta: dict) -> dict:
    """``model_args`` plus the input channels the trainer built the network with (``input_size[0]``):
    a network trained on greyscale images has a one-channel first layer whatever its builder's default."""
    args = dict(meta["model_args"])
    size = meta.get("input_size")
    if size is not None and "in_chans" not in args:
        args["in_chans"] = int(size[0])
    return args
