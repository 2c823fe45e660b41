"""The server-side list of runs: the page names a run by its id, never by a path.

Folders given to ``cnnlab serve`` are either run folders or folders holding runs (searched two
levels deep). The list is re-read on every request for it, so runs started after the server
appear; an id, once given to a folder, stays with it while the server runs.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnlabError
from ..runs import MODEL_FILE, load_run, read_model_meta
from .errors import ApiError

RUN_MARKERS = ("metrics.jsonl", MODEL_FILE, "config.json")
PICTURE_DEPTH = 2  # PNGs in the run folder and up to two folders below it (evaluate's out dirs)
MAX_PICTURES = 40
EVALUATION_PICTURES = ("curves.png", "confusion.png", "reliability.png", "top-losses.png")


def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in RUN_MARKERS)


@dataclass
class RunEntry:
    id: str
    path: Path
    root: Path
    _model: object = field(default=None, repr=False)
    _model_mtime: float = field(default=-1.0, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def label(self) -> str:
        try:
            return str(self.path.relative_to(self.root.parent))
        except ValueError:
            return self.path.name

    def config(self) -> dict:
        try:
            return json.loads((self.path / "config.json").read_text())
        except (OSError, ValueError):
            return {}

    def metrics(self) -> list[dict]:
        """The rows of metrics.jsonl; a half-written last line (the trainer is appending) is left for later."""
        try:
            text = (self.path / "metrics.jsonl").read_text()
        except OSError:
            return []
        rows = []
        for line in text.splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break
        return rows

    def pictures(self) -> list[str]:
        """PNG files of the run (relative names), the evaluation pictures first."""
        found = []
        for depth in range(PICTURE_DEPTH + 1):
            for p in sorted(self.path.glob("/".join(["*"] * (depth + 1)))):
                if p.suffix.lower() == ".png" and p.is_file() and "checkpoint" not in p.parts:
                    found.append(p.relative_to(self.path).as_posix())
        found.sort(key=lambda n: (Path(n).name not in EVALUATION_PICTURES, n.count("/"), n))
        return found[:MAX_PICTURES]

    def picture_path(self, name: str) -> Path:
        for known in self.pictures():  # only names this server listed: the client never builds a path
            if known == name:
                return self.path / known
        raise ApiError(404, f"run {self.id!r} has no picture {name!r}", "pick one from the run's picture list")

    def has_model(self) -> bool:
        return (self.path / MODEL_FILE).is_file()

    def model(self):
        """The trained network (cnnlab.runs.LoadedRun), reloaded when model.safetensors changes."""
        file = self.path / MODEL_FILE
        try:
            mtime = file.stat().st_mtime
        except OSError:
            raise ApiError(
                409,
                f"run {self.id!r} has no trained model yet",
                "wait until its training finishes, or pick another run",
            ) from None
        if self._model is None or mtime != self._model_mtime:
            self._model, self._model_mtime = load_run(self.path), mtime
        return self._model

    @property
    def model_version(self) -> float:
        """The mtime of the model file last loaded (a key for caches of what was computed from it)."""
        return self._model_mtime

    def describe(self) -> dict:
        cfg = self.config()
        rows = self.metrics()
        meta = {}
        if self.has_model():
            try:
                meta = read_model_meta(self.path / MODEL_FILE)
            except CnnlabError:
                meta = {}
        last = rows[-1] if rows else {}
        return {
            "id": self.id,
            "label": self.label,
            "model": meta.get("model", cfg.get("model")),
            "data": cfg.get("data"),
            "epochs": cfg.get("epochs"),
            "epochs_done": len(rows),
            "has_model": bool(meta),
            "classes": meta.get("classes"),
            "input_size": meta.get("input_size"),
            "val_top1": last.get("val_top1"),
            "pictures": self.pictures(),
        }


class Catalog:
    """Runs found under the folders the server was started with, each under a stable id."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r).resolve() for r in roots]
        self._by_path: dict[Path, RunEntry] = {}
        self._lock = threading.Lock()

    def add_root(self, root: Path) -> None:
        root = Path(root).resolve()
        if root not in self.roots:
            self.roots.append(root)

    def _scan(self) -> list[tuple[Path, Path]]:
        found = []
        for root in self.roots:
            if is_run(root):
                found.append((root, root))
            elif root.is_dir():
                for child in sorted(p for p in root.iterdir() if p.is_dir()):
                    if is_run(child):
                        found.append((child, root))
                    else:
                        found += [(g, root) for g in sorted(p for p in child.iterdir() if is_run(p))]
        return found

    def runs(self) -> list[RunEntry]:
        with self._lock:
            seen, paths = [], set()
            for path, root in self._scan():
                if path in paths:
                    continue
                paths.add(path)
                entry = self._by_path.get(path)
                if entry is None:
                    entry = RunEntry(self._new_id(path), path, root)
                    self._by_path[path] = entry
                seen.append(entry)
            return seen

    def _new_id(self, path: Path) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", path.name).strip("-.") or "run"
        taken = {e.id for e in self._by_path.values()}
        candidate, n = base, 2
        while candidate in taken:
            candidate, n = f"{base}-{n}", n + 1
        return candidate

    def get(self, run_id: str) -> RunEntry:
        for entry in self.runs():
            if entry.id == run_id:
                return entry
        raise ApiError(404, f"no run with id {run_id!r}", "the page lists the runs this server knows (GET /api/runs)")

    def entry_for(self, path: Path) -> RunEntry | None:
        path = Path(path).resolve()
        return next((e for e in self.runs() if e.path == path), None)
