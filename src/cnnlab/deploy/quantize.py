"""int8 post-training quantization: calibrate on training images, write a QDQ ONNX file, compare
fp32 and int8 on the held-out split (top-1; mIoU for segmentation, box AP for detection:
:mod:`.scoring`), file sizes and batch-1 latency.

    >>> rep = quantize("runs/r20", calibration=512)          # writes runs/r20/model.int8.onnx
    >>> rep.fp32_top1, rep.int8_top1, rep.drop_points

Toolkit: ONNX Runtime's ``quantize_static`` (QDQ format: per-channel symmetric int8 weights, uint8
activations with ranges from MinMax calibration). Chosen by measurement on this machine
(docs/deployment.md, "Choosing the quantization toolkit"): one ``.onnx`` file that both ONNX
Runtime and OpenVINO execute with int8 kernels (OpenVINO reads the QDQ pairs as its own
quantization), no compilation step (PyTorch's PT2E flow needs torch.compile for int8 speed,
10-40 s per input shape here), no extra package (NNCF). ``method="dynamic"`` quantizes weights
only and computes activation ranges at run time (``quantize_dynamic``; for linear-heavy nets).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnlabError
from .export import deployable, deployment_metadata, onnx_bytes, quiet, require, set_onnx_metadata
from .scoring import head, scorer_for
from .source import Source, held_out, load_source, load_split, normalize, read_data

METHODS = ("static", "dynamic")
QUANT_ENGINES = ("onnxruntime", "openvino")
CALIBRATION_BATCH = 32


def quantize_onnx(fp32: bytes, calibration: torch.Tensor | None, method: str = "static") -> bytes:
    """An fp32 ONNX graph (bytes) -> the int8 QDQ graph (bytes), activation ranges from ``calibration``
    (N x C x H x W, normalised as the model expects; unused for ``dynamic``)."""
    require("onnxruntime")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in METHODS:
        raise CnnlabError(f"unknown quantization method {method!r}", f"choose one of {', '.join(METHODS)}")
    if method == "static" and (calibration is None or len(calibration) == 0):
        raise CnnlabError("static quantization needs calibration images", "pass --calibration N (training images)")

    class Reader(CalibrationDataReader):
        def __init__(self, x: torch.Tensor):
            self.batches = iter(
                [{"input": np.ascontiguousarray(b.float().numpy())} for b in x.split(CALIBRATION_BATCH)]
            )

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(fp32)
        with quiet():
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            if method == "static":
                quantize_static(
                    str(pre),
                    str(out),
                    Reader(calibration),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
                )
            else:
                quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=True)
        return out.read_bytes()


@dataclass
class QuantReport:
    path: Path
    method: str
    engine: str
    calibration: int
    split: str
    images: int
    fp32_top1: float
    int8_top1: float
    fp32_bytes: int
    int8_bytes: int
    fp32_ms: float
    int8_ms: float
    agreement: float  # share of images (pixels) where fp32 and int8 agree: see ``agreement_of``
    notes: list[str] = field(default_factory=list)
    metric: str = "top-1"  # what fp32_top1 / int8_top1 hold: top-1 (classifiers), mIoU, box AP
    agreement_of: str = "images given the same class"
    secondary: dict = field(default_factory=dict)  # {"pixel accuracy": (fp32, int8)}, {"AP50": ...}

    @property
    def drop_points(self) -> float:
        return 100 * (self.fp32_top1 - self.int8_top1)

    def text(self) -> str:
        how = (
            f"int8 static, QDQ ONNX, calibrated on {self.calibration} training images"
            if self.method == "static"
            else "int8 dynamic: int8 weights, activation ranges computed at run time"
        )
        return "\n".join(
            [
                f"wrote {self.path} ({how})",
                f"{self.metric} on the {self.split}, {self.images:,} images: fp32 {self.fp32_top1:.2%}  "
                f"int8 {self.int8_top1:.2%}  (drop {self.drop_points:+.2f} points; {self.agreement_of}: "
                f"{self.agreement:.1%})",
                *[f"{k}: fp32 {a:.2%}  int8 {b:.2%}" for k, (a, b) in self.secondary.items()],
                f"file size: fp32 {self.fp32_bytes / 1e6:.2f} MB  int8 {self.int8_bytes / 1e6:.2f} MB  "
                f"({self.fp32_bytes / max(self.int8_bytes, 1):.1f}x smaller)",
                f"batch-1 latency on {self.engine} (median): fp32 {self.fp32_ms:.2f} ms  int8 {self.int8_ms:.2f} ms  "
                f"({self.fp32_ms / max(self.int8_ms, 1e-9):.2f}x)",
                *[f"note: {n}" for n in self.notes],
            ]
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path), "drop_points": self.drop_points}


def calibration_images(source: Source, data_spec: str | None, n: int, seed: int = 0, train=None) -> torch.Tensor:
    """``n`` normalised training images, drawn with ``seed`` (``train``: the training split, already read)."""
    train = train if train is not None else load_split(source, "train", data_spec)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(train), generator=g)[:n]
    return normalize(source.meta, train.images[idx])


def median_latency_ms(run, x: torch.Tensor, repeats: int = 20) -> float:
    """Median wall time of ``run(x)`` in ms over ``repeats`` calls, after one warm-up call."""
    run(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def _int8_path(source: Source, out: str | Path | None) -> Path:
    """Where the int8 file goes: ``out``, else ``model.int8.onnx`` in the run folder (or here); must be .onnx."""
    path = Path(out) if out else (source.run_dir or Path(".")) / "model.int8.onnx"
    if path.suffix.lower() != ".onnx":
        raise CnnlabError(f"{path}: the int8 model is an ONNX file", "e.g. -o model.int8.onnx")
    return path


def _write_int8(
    source: Source, fp32: bytes, calib: torch.Tensor | None, method: str, path: Path, extra: dict | None = None
) -> None:
    """Quantize the fp32 graph and write it atomically to ``path`` with the deployment metadata
    (precision, and how it was quantized)."""
    int8 = quantize_onnx(fp32, calib, method)
    onnx = require("onnx")
    proto = onnx.load_from_string(int8)
    meta = {**deployment_metadata(source, "onnx", "dynamic"), **(extra or {})}
    meta.update(
        precision="int8",
        quantization=(
            f"static, onnxruntime QDQ, per-channel int8 weights, uint8 activations, {len(calib)} calibration images"
            if calib is not None
            else "dynamic, onnxruntime, per-channel int8 weights, activation ranges at run time"
        ),
    )
    set_onnx_metadata(proto, meta)
    from ..runs import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, proto.SerializeToString())


def _latencies_ms(fp32: bytes, int8_run, engine: str, threads: int | None, x1: torch.Tensor) -> tuple[float, float]:
    """Median batch-1 latency of the fp32 graph and of the int8 runner, both on ``engine``."""
    from .engines import make_runner

    with tempfile.TemporaryDirectory() as tmp:
        fp32_file = Path(tmp) / "fp32.onnx"
        fp32_file.write_bytes(fp32)
        fp32_engine = make_runner(fp32_file, engine, "fp32", threads=threads)
        return median_latency_ms(fp32_engine, x1), median_latency_ms(int8_run, x1)


def quantize(
    run_or_source,
    data: str | None = None,
    method: str = "static",
    calibration: int = 512,
    engine: str = "onnxruntime",
    out: str | Path | None = None,
    limit: int | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> QuantReport:
    """Quantize a trained run to int8 and evaluate it against its fp32 self (see the module doc).

    ``data``: the data set (default: the run's own); calibration uses ``calibration`` training images,
    the comparison the held-out split (``limit`` caps its size). ``engine``: what runs both files for
    the comparison and the latency. Writes ``out`` (default ``RUN/model.int8.onnx``).
    """
    from .engines import make_runner

    if engine not in QUANT_ENGINES:
        raise CnnlabError(f"int8 runs on {' or '.join(QUANT_ENGINES)}, not {engine!r}", "pass --engine onnxruntime")
    if calibration < 1:
        raise CnnlabError(f"--calibration must be at least 1 image, got {calibration}")
    source = run_or_source if isinstance(run_or_source, Source) else load_source(run_or_source)
    if not source.trained and not data:
        raise CnnlabError(
            f"{source.name} is a bare model with random weights: nothing to quantize meaningfully",
            "pass a run folder from `cnnlab train` (or --data NAME:PATH to calibrate a bare model)",
        )
    path = _int8_path(source, out)
    model, extra = deployable(source)  # a detector: its dense half; NMS runs after it, in the scorer
    scorer = scorer_for(extra.get("task"), model)
    splits = read_data(source, data)  # once: calibration and comparison images come from it
    calib = calibration_images(source, data, calibration, train=splits.train) if method == "static" else None
    held, held_name = held_out(source, data, splits)
    example = normalize(source.meta, held.images[:1])
    fp32 = onnx_bytes(model, example)
    _write_int8(source, fp32, calib, method, path, extra)
    held = head(held, limit)
    fp32_run = make_runner(model, "eager", "fp32", threads=threads)
    int8_run = make_runner(path, engine, "int8", threads=threads)
    fp32_acc, fp32_more, fp32_pred = scorer.score(fp32_run, held, source.meta, "fp32" if progress else None)
    int8_acc, int8_more, int8_pred = scorer.score(int8_run, held, source.meta, "int8" if progress else None)
    fp32_ms, int8_ms = _latencies_ms(fp32, int8_run, engine, threads, normalize(source.meta, held.images[:1]))
    notes = ["the latency was measured once on this machine; re-measure on a quiet one (cnnlab bench)"]
    if extra.get("task") == "detect":
        notes.append("the latency is the network's (dense detections); thresholds and NMS run after it")
    return QuantReport(
        path,
        method,
        engine,
        len(calib) if calib is not None else 0,
        held_name,
        len(held.images),
        fp32_acc,
        int8_acc,
        len(fp32),
        path.stat().st_size,
        fp32_ms,
        int8_ms,
        scorer.agreement(fp32_pred, int8_pred),
        notes,
        scorer.metric,
        scorer.agreement_of,
        {k: (v, int8_more[k]) for k, v in fp32_more.items()},
    )
