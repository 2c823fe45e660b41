"""Batch-1 latency of a detector (``cnnlab bench RUN`` of a detection run, or ``cnnlab bench fcos``):
the network's forward alone and forward + decoding + NMS (what a camera pipeline waits for), eager
PyTorch fp32, median and 95th percentile over interleaved rounds. The export engines of
``cnnlab.deploy`` take classifiers (one logits tensor) and are not used here."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch


@dataclass
class DetectorLatency:
    model: str
    input_size: tuple[int, int, int]
    threads: int
    inputs: str
    rows: dict[str, dict[str, float]]  # "forward" / "forward + NMS": p50_ms, p95_ms
    detections: int  # boxes found in the example image
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        c, h, w = self.input_size
        lines = [
            f"{self.model}: batch-1 latency at {c}x{h}x{w}, eager PyTorch fp32, {self.threads} thread(s), "
            f"on {self.inputs} ({self.detections} detection(s))",
            f"{'':16}{'p50 ms':>10}{'p95 ms':>10}",
        ]
        lines += [f"{name:16}{r['p50_ms']:10.2f}{r['p95_ms']:10.2f}" for name, r in self.rows.items()]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


def example_image(source) -> tuple[torch.Tensor, str]:
    """One normalised held-out image of the run's data set, else a seeded random one."""
    c, h, w = source.input_size
    if source.data_spec:
        from ...data import load_data

        options = {**source.data_options, "progress": False}
        if source.data_spec.partition(":")[0] in ("coco", "yolo"):
            options.setdefault("image_size", h)
        data = load_data(source.data_spec, options)
        split = data.val if len(data.val) else data.train
        x = split.images[:1].float() / 255
        mean = torch.tensor(source.meta.get("mean") or data.mean).view(1, -1, 1, 1)
        std = torch.tensor(source.meta.get("std") or data.std).view(1, -1, 1, 1)
        return (x - mean) / std, f"a held-out image of {source.data_spec}"
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(0)), "a random input"


@torch.no_grad()
def bench_detector(
    spec, rounds: int = 5, calls: int = 10, threads: int | None = None, input_size=None
) -> DetectorLatency:
    from ...deploy.source import load_source
    from ...runtime import configure

    threads = configure(threads)
    source = load_source(spec, input_size=input_size)
    model = source.model.eval()
    x, what = example_image(source)
    steps = {"forward": lambda: model(x), "forward + NMS": lambda: model.postprocess(model(x))}
    for fn in steps.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            for _ in range(calls):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    rows = {
        k: {"p50_ms": float(np.percentile(v, 50)) * 1000, "p95_ms": float(np.percentile(v, 95)) * 1000}
        for k, v in times.items()
    }
    notes = [] if source.trained else ["random weights (a bare model name): NMS has almost nothing to do"]
    notes.append("absolute times hold only on a quiet machine")
    return DetectorLatency(
        source.name, tuple(source.input_size), threads, what, rows, len(model.postprocess(model(x))[0]["boxes"]), notes
    )
