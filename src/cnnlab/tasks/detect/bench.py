"""Batch-1 latency of a detector (``cnnlab bench RUN`` of a detection run, or ``cnnlab bench fcos``):
per engine, the network with its decoding (the dense detections: what an exported file computes)
alone and with thresholds + NMS after it (what a camera pipeline waits for), median and 95th
percentile over interleaved rounds. Engines are ``cnnlab.deploy``'s (``--engines``; default eager
fp32 PyTorch), running :class:`~cnnlab.tasks.detect.deploy.DenseDetector`; NMS runs in eager PyTorch
for all of them."""

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
    rows: dict[str, dict[str, float]]  # "ENGINE PRECISION forward" / "... forward + NMS": p50_ms, p95_ms
    detections: int  # boxes found in the example image (eager fp32)
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # engine configuration -> why not measured

    def text(self) -> str:
        c, h, w = self.input_size
        width = max([len(k) for k in self.rows] + [16]) + 2
        lines = [
            f"{self.model}: batch-1 latency at {c}x{h}x{w}, {self.threads} thread(s), "
            f"on {self.inputs} ({self.detections} detection(s))",
            f"{'':{width}}{'p50 ms':>10}{'p95 ms':>10}",
        ]
        lines += [f"{name:{width}}{r['p50_ms']:10.2f}{r['p95_ms']:10.2f}" for name, r in self.rows.items()]
        lines += [f"{name:{width}}skipped: {why}" for name, why in self.skipped.items()]
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
    spec, rounds: int = 5, calls: int = 10, threads: int | None = None, input_size=None, engines=None
) -> DetectorLatency:
    """``engines``: ``cnnlab.deploy`` configurations (``"eager,onnxruntime:fp32"``); default eager fp32."""
    from ...deploy.bench import _calibration_inputs, parse_configs
    from ...deploy.engines import engine_available, make_runner
    from ...deploy.source import load_source
    from ...errors import CnnlabError
    from ...runtime import configure
    from .deploy import DenseDetector

    threads = configure(threads)
    source = load_source(spec, input_size=input_size)
    dense = DenseDetector(source.model, source.input_size)
    x, what = example_image(source)
    configs = parse_configs(engines) if engines else [("eager", "fp32")]
    runners, skipped = {}, {}
    # before any runner: for a bare model this also calibrates batch norm, which every engine must see
    calib_notes: list[str] = []
    int8 = any(p == "int8" for _, p in configs)
    calib = _calibration_inputs(source, source.model, 64, calib_notes) if int8 else None
    for engine, precision in configs:
        label = f"{engine} {precision}"
        ok, why = engine_available(engine)
        try:
            if not ok:
                raise CnnlabError(why)
            runners[label] = make_runner(dense, engine, precision, threads=threads, example=x, calibration=calib)
        except CnnlabError as e:
            skipped[label] = str(e).splitlines()[0][:120]
    steps = {}
    for label, r in runners.items():
        steps[f"{label} forward"] = lambda r=r: r(x)
        steps[f"{label} forward + NMS"] = lambda r=r: dense.select(r(x))
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
    notes += calib_notes
    notes.append("'forward' includes decoding the boxes (what an exported file computes); NMS runs in eager PyTorch")
    notes.append("absolute times hold only on a quiet machine")
    found = len(dense.select(dense(x))[0]["boxes"])
    return DetectorLatency(source.name, tuple(source.input_size), threads, what, rows, found, notes, skipped)
