"""The demo run: the LeNet-5 of ``make demo``, trained in the background on first start if absent.

The page shows the training's progress (epochs done, read from the run's metrics.jsonl as the
trainer writes it) and selects the run when its model is saved.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ..runs import MODEL_FILE, read_jsonl

RECIPE = "lenet-mnist"


class DemoRun:
    def __init__(self, path: str | Path, enabled: bool = True, overrides: dict | None = None):
        self.path = Path(path).resolve()
        self.enabled = enabled
        self.overrides = dict(overrides or {})
        self.error: str | None = None
        self.started: float | None = None
        self.finished: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return (self.path / MODEL_FILE).is_file() and not self.training

    @property
    def training(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_if_absent(self) -> bool:
        """Start training in a background thread unless the model exists; True when training started."""
        if not self.enabled or self.training or (self.path / MODEL_FILE).is_file():
            return False
        self.error, self.started = None, time.time()
        self._thread = threading.Thread(target=self._train, name="cnnlab-demo-training", daemon=True)
        self._thread.start()
        return True

    def _train(self) -> None:
        import cnnlab

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cnnlab.fit(recipe=RECIPE, out=str(self.path), overwrite=True, progress=False, **self.overrides)
        except Exception as e:  # shown on the page; the server keeps serving the other views
            self.error = f"{e.__class__.__name__}: {e}"
        finally:
            self.finished = time.time()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ready

    def status(self) -> dict:
        if not self.enabled:
            return {"state": "off", "message": "no demo run (--no-demo)"}
        epochs = self.overrides.get("epochs")
        if epochs is None:
            from ..train.recipes import load_recipe

            epochs = load_recipe(RECIPE).epochs
        done = len(read_jsonl(self.path / "metrics.jsonl")) if self.path.is_dir() else 0
        if self.training:
            elapsed = time.time() - (self.started or time.time())
            return {
                "state": "training",
                "epoch": done,
                "epochs": epochs,
                "message": f"training the demo LeNet-5 on the built-in MNIST sample (first start): "
                f"epoch {done}/{epochs} done, {elapsed:.0f} s",
            }
        if self.error:
            return {"state": "failed", "message": f"training the demo run failed: {self.error}"}
        if (self.path / MODEL_FILE).is_file():
            return {"state": "ready", "epoch": done, "epochs": epochs, "message": "demo LeNet-5 ready"}
        return {"state": "absent", "message": "the demo run is not trained"}
