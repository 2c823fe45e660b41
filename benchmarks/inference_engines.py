"""Inference engines against eager fp32 PyTorch, side by side in one process (issue 14's targets).

For ResNet-18 and MobileNetV2 (224x224, BN statistics calibrated so no float32 denormals), every
engine and precision `cnnlab bench` offers, plus each engine's own tuned settings as a ceiling:

- OpenVINO with its THROUGHPUT hint (its own stream/thread choice) in bf16,
- ONNX Runtime with its default session (its own thread choice, no pinning),
- eager PyTorch bf16 + channels-last with torch.jit.freeze-style optimisation left to Inductor
  (the `compile bf16` row is that ceiling already).

Targets (issue 14): the best engine's batch-32 throughput >= 5x eager fp32 on both networks, and
cnnlab's row for that engine within 1.2x of the engine's tuned row. Ratios are measured in
interleaved rounds in one process; absolute figures only hold on a quiet machine (check `uptime`
first: a load average above ~0.5 on 2 cores invalidates the run).

    .venv/bin/python benchmarks/inference_engines.py                      # the real run (~10 min)
    .venv/bin/python benchmarks/inference_engines.py --quick              # smoke test: 64x64, 1 round
    .venv/bin/python benchmarks/inference_engines.py --json out.json      # also the raw rows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cnnlab.deploy.bench import bench  # noqa: E402
from cnnlab.deploy.engines import Runner, engine_available  # noqa: E402
from cnnlab.deploy.source import load_source  # noqa: E402


def openvino_tuned(model, example, calibration) -> Runner:
    """OpenVINO's own best settings for throughput: THROUGHPUT hint (streams chosen by OpenVINO), bf16."""
    import numpy as np
    import openvino as ov
    import torch

    from cnnlab.deploy.engines import _ov_from_bytes
    from cnnlab.deploy.export import onnx_bytes

    core = ov.Core()
    m = _ov_from_bytes(core, onnx_bytes(model, example))
    compiled = core.compile_model(m, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "bf16"})
    queue = ov.AsyncInferQueue(compiled)
    nstreams = compiled.get_property("NUM_STREAMS")

    def run(x):
        # split the batch over OpenVINO's streams, as its benchmark_app does
        parts = list(x.split(max(1, -(-len(x) // max(int(nstreams), 1)))))
        outs = [None] * len(parts)

        def done(request, i):
            outs[i] = request.get_output_tensor(0).data.copy()

        queue.set_callback(done)
        for i, p in enumerate(parts):
            queue.start_async({0: np.ascontiguousarray(p.numpy())}, i)
        queue.wait_all()
        return torch.from_numpy(np.concatenate(outs))

    return Runner(run, "openvino", "bf16", note=f"THROUGHPUT hint, {nstreams} streams")


def ort_default(model, example, calibration) -> Runner:
    """ONNX Runtime with a default session (its own threading)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from cnnlab.deploy.export import onnx_bytes

    sess = ort.InferenceSession(onnx_bytes(model, example), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return Runner(lambda x: torch.from_numpy(sess.run(None, {name: x.numpy()})[0]), "onnxruntime", "fp32")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["resnet18", "mobilenet_v2"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--engines", default=None, help="as `cnnlab bench --engines` (default: all)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 64x64 inputs, batch 4, 1 round, no compile")
    ap.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} (a quiet 2-core machine is below ~0.5; above, only the ratios mean much)")
    extra = {"onnxruntime (own defaults)": ort_default}
    if engine_available("openvino")[0]:
        extra["openvino (THROUGHPUT hint)"] = openvino_tuned
    results = []
    for name in args.models:
        source = load_source(name, input_size="3x64x64" if args.quick else None)
        engines = args.engines
        if args.quick and engines is None:
            engines = "eager,onnxruntime,openvino"
        res = bench(source, batch=4 if args.quick else args.batch, engines=engines,
                    rounds=1 if args.quick else args.rounds, threads=args.threads, progress=True, extra=extra,
                    tiny=args.quick)
        print(res.text())
        ok = [r for r in res.rows if r.speedup and not r.engine.endswith(")")]
        if ok:
            best = max(ok, key=lambda r: r.speedup)
            print(f"best cnnlab engine: {best.engine} {best.precision} {best.speedup:.2f}x eager fp32 "
                  f"(target >= 5x){' - quick run, not a measurement' if args.quick else ''}")
        for t in (r for r in res.rows if r.engine.endswith(")") and r.throughput):
            mine = next((r for r in ok if t.engine.startswith(r.engine + " (") and r.precision == t.precision), None)
            if mine is not None:
                print(f"  {t.engine} {t.precision}: {t.throughput / mine.throughput:.2f}x cnnlab's {mine.engine} "
                      f"{mine.precision} row (target: <= 1.2x)")
        results.append(res.to_dict())
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
