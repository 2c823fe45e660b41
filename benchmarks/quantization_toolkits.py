"""Which int8 toolkit cnnlab uses, by measurement: accuracy and speed of the same trained run quantized
by ONNX Runtime's quantize_static (QDQ file, run in ONNX Runtime and in OpenVINO) and by OpenVINO's
NNCF (if installed; not a cnnlab dependency). Same calibration images (training split), same
held-out images, one process.

    .venv/bin/python benchmarks/quantization_toolkits.py runs/r20 --calibration 512 --images 2000

PyTorch's PT2E flow (X86InductorQuantizer) is not measured: it left torch core (torch 2.13 has no
torch.ao.quantization.quantize_pt2e; it lives in torchao) and reaches int8 speed only through
torch.compile (10-40 s per input shape on 2 cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cnnlab.deploy.engines import make_runner  # noqa: E402
from cnnlab.deploy.export import onnx_bytes  # noqa: E402
from cnnlab.deploy.quantize import median_latency_ms, quantize_onnx, top1  # noqa: E402
from cnnlab.deploy.source import held_out_label, load_source, load_split, normalize  # noqa: E402


def throughput(run, x, rounds=5) -> float:
    return len(x) / (median_latency_ms(run, x, rounds) / 1000)


def nncf_runner(fp32: bytes, calib: torch.Tensor, threads: int):
    import nncf
    import openvino as ov

    from cnnlab.deploy.engines import _ov_from_bytes

    core = ov.Core()
    model = _ov_from_bytes(core, fp32)
    data = nncf.Dataset([b.numpy() for b in calib.split(32)])
    q = nncf.quantize(model, data, subset_size=-(-len(calib) // 32))  # items are batches of 32
    compiled = core.compile_model(q, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()

    def run(x):
        req.infer({0: np.ascontiguousarray(x.numpy())})
        return torch.from_numpy(req.get_output_tensor(0).data.copy())

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--calibration", type=int, default=512)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    from cnnlab.runtime import configure

    threads = configure(args.threads)
    src = load_source(args.run)
    train = load_split(src, "train")
    g = torch.Generator().manual_seed(0)
    calib = normalize(src.meta, train.images[torch.randperm(len(train), generator=g)[:args.calibration]])
    held = load_split(src, "val")
    images, labels = held.images[:args.images], held.labels[:args.images]
    x32 = normalize(src.meta, images[:32])
    fp32 = onnx_bytes(src.model, x32[:1])
    rows = [("eager PyTorch fp32", make_runner(src.model, "eager", "fp32", threads=threads))]
    qdq = quantize_onnx(fp32, calib)
    tmp = Path("/tmp/_cnnlab_qdq.onnx")
    tmp.write_bytes(qdq)
    rows.append(("ORT quantize_static QDQ -> onnxruntime", make_runner(tmp, "onnxruntime", "int8", threads=threads)))
    if importlib.util.find_spec("openvino"):
        rows.append(("ORT quantize_static QDQ -> openvino", make_runner(tmp, "openvino", "int8", threads=threads)))
    if importlib.util.find_spec("nncf"):
        rows.append(("NNCF (OpenVINO) -> openvino", nncf_runner(fp32, calib, threads)))
    print(f"{src.name}: top-1 on the {held_out_label(src)}, first {len(labels)} images; "
          f"{len(calib)} calibration images; {threads} threads")
    for label, run in rows:
        acc, _ = top1(run, images, labels, src.meta)
        print(f"  {label:<42} top-1 {acc:.2%}   batch-32 {throughput(run, x32):8.1f} img/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
