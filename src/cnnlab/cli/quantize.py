"""``cnnlab quantize RUN``: int8 post-training quantization, evaluated against fp32."""

from __future__ import annotations

import json

from .common import Formatter

EPILOG = """examples:
  cnnlab quantize runs/r20                          512 training images calibrate; held-out top-1 fp32 vs int8
  cnnlab quantize runs/r20 --calibration 1024 --engine openvino -o r20.int8.onnx
  cnnlab quantize runs/r20 --method dynamic         int8 weights, activation ranges at run time

Writes a QDQ ONNX file (ONNX Runtime quantize_static: per-channel symmetric int8 weights, uint8
activations, MinMax ranges from the calibration images) that ONNX Runtime and OpenVINO both run in
int8. Prints fp32 and int8 on the held-out split (top-1; mIoU and pixel accuracy for a segmentation
run; COCO box AP and AP50 for a detection run), file sizes and batch-1 latency."""


def register(sub) -> None:
    p = sub.add_parser(
        "quantize",
        help="int8 post-training quantization with fp32-vs-int8 accuracy",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="Quantize a trained run to int8 (calibrated on its training images), then "
        "compare fp32 and int8 on the held-out split (top-1, mIoU or box AP), the file sizes "
        "and the batch-1 latency.",
    )
    p.add_argument("run", metavar="RUN", help="run folder from `cnnlab train`")
    p.add_argument("--data", metavar="SPEC", default=None, help="data set NAME:PATH; when not given: the run's own")
    p.add_argument(
        "--method",
        choices=("static", "dynamic"),
        default="static",
        help="static: calibrated activation ranges; dynamic: ranges computed at run time",
    )
    p.add_argument("--calibration", type=int, default=512, help="training images used to calibrate")
    p.add_argument(
        "--engine",
        choices=("onnxruntime", "openvino"),
        default="onnxruntime",
        help="engine that runs the int8 file for the comparison and the latency",
    )
    p.add_argument(
        "-o", "--out", metavar="FILE", default=None, help="int8 .onnx file; when not given: RUN/model.int8.onnx"
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate on at most this many held-out images")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads; when not given: the available cores")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.quantize import quantize

    rep = quantize(
        args.run,
        data=args.data,
        method=args.method,
        calibration=args.calibration,
        engine=args.engine,
        out=args.out,
        limit=args.limit,
        threads=args.threads,
        progress=not args.json,
    )
    print(json.dumps(rep.to_dict(), indent=2) if args.json else rep.text())
    return 0
