"""ONNX Runtime session settings side by side on the same exported file (issue 14's "within 1.2x of
the engine's own tuned settings"): cnnlab's (2 intra-op threads, 1 inter-op, all graph
optimisations), intra-op 0 (ONNX Runtime picks the count and pins the threads) and a default
SessionOptions. Batch 32 at 224x224, 5 interleaved rounds of 2 runs; the median per setting.
Run it on a quiet machine (nothing else busy; the first line prints the load average):

    .venv/bin/python benchmarks/ort_session_settings.py
"""

from __future__ import annotations

import os
import time

import numpy as np
import onnxruntime as ort
import torch

from cnnlab.deploy.export import onnx_bytes
from cnnlab.deploy.source import load_source

SETTINGS = {  # name: (intra-op threads, inter-op threads); None = a default SessionOptions
    "cnnlab (2 intra, 1 inter)": (2, 1),
    "intra-op 0 (ORT picks, pinned)": (0, 1),
    "ORT defaults": None,
}


def session(data: bytes, threads: tuple[int, int] | None) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def main(models=("resnet18", "mobilenet_v2"), batch: int = 32, rounds: int = 5) -> None:
    print(f"load average {os.getloadavg()[0]:.2f} (quiet: below ~0.5 on 2 cores)")
    for name in models:
        model = load_source(name).model.eval()
        x = torch.randn(batch, 3, 224, 224)
        data = onnx_bytes(model, x[:1])
        sessions = {k: session(data, v) for k, v in SETTINGS.items()}
        feed = {next(iter(sessions.values())).get_inputs()[0].name: x.numpy()}
        times: dict[str, list[float]] = {k: [] for k in sessions}
        for s in sessions.values():
            s.run(None, feed)  # warm-up
        for _ in range(rounds):
            for k, s in sessions.items():
                t = time.perf_counter()
                s.run(None, feed)
                s.run(None, feed)
                times[k].append((time.perf_counter() - t) / 2)
        base = batch / np.median(times["ORT defaults"])
        for k, v in times.items():
            rate = batch / np.median(v)
            print(f"{name:13s} {k:32s} {rate:7.1f} img/s  {rate / base:.2f}x ORT defaults")


if __name__ == "__main__":
    main()
