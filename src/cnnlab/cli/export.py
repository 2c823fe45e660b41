"""``cnnlab export RUN|MODEL --format onnx|torchscript|openvino``."""

from __future__ import annotations

import json

from .common import Formatter

EPILOG = """examples:
  cnnlab export runs/r20                              runs/r20/model.onnx, checked on held-out images
  cnnlab export runs/r20 --format openvino -o r20.xml  OpenVINO IR (r20.xml + r20.bin)
  cnnlab export runs/r20 --format torchscript --batch 1
  cnnlab export mobilenet_v2 -o mnv2.onnx             a bare model (random weights, random check inputs)

The preprocessing goes into the file (input size, mean/std on pixels / 255, channel order, class
names, model name, cnnlab version): ONNX metadata_props, TorchScript extra file cnnlab.json, OpenVINO
rt_info. A file that disagrees with PyTorch (max |diff| > 1e-4 of the largest logit) is deleted and
the first diverging layer is named.

A detection run exports its network with the box decoding (one N x locations x (4 + classes + 1)
tensor); thresholds and NMS run after it, from the settings in the metadata
(cnnlab.tasks.detect.deploy.select). A segmentation run exports as is (per-pixel logits)."""


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write ONNX / TorchScript / OpenVINO with embedded preprocessing, parity-checked",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="Export a trained run (or a registered model with random weights) for "
        "deployment, then check the file against eager PyTorch on real held-out "
        "images of the run's data (random inputs for a bare model).",
    )
    p.add_argument("model", metavar="RUN|MODEL", help="run folder from `cnnlab train`, or a registered model name")
    p.add_argument("--format", "-f", choices=("onnx", "torchscript", "openvino"), default="onnx", help="file format")
    p.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        default=None,
        help="output file (.onnx, .pt or .xml); when not given: RUN/model.<ext>, or MODEL.<ext> here",
    )
    p.add_argument("--batch", default="dynamic", help="'dynamic' (any batch) or a fixed batch size N")
    p.add_argument("--check-images", type=int, default=16, help="held-out images for the parity check")
    p.add_argument(
        "--input", metavar="CxHxW", default=None, help="input size of a bare model; when not given: its card's"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.export import export
    from ..deploy.source import load_source

    source = load_source(args.model, input_size=args.input)
    rep = export(args.model, args.format, args.out, batch=args.batch, check_images=args.check_images, source=source)
    print(json.dumps(rep.to_dict(), indent=2) if args.json else rep.text())
    return 0
