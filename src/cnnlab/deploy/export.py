"""Export a network to ONNX, TorchScript or OpenVINO IR, with its preprocessing embedded as
metadata and a parity check against eager PyTorch that refuses to leave a wrong file behind.

    >>> from cnnlab.deploy import export
    >>> rep = export("runs/r20", "onnx", "r20.onnx")        # or a model name (random weights)
    >>> rep.max_abs_diff, read_metadata("r20.onnx")["mean"]

Metadata (every format; values JSON-encoded strings under ``cnnlab.*`` keys): model name, classes,
input size C x H x W, per-channel mean/std (applied to pixels scaled to [0, 1]), channel order,
layout, background, cnnlab version, where the weights came from. ONNX: ``metadata_props``;
TorchScript: the extra file ``cnnlab.json``; OpenVINO: ``rt_info['cnnlab']`` in the ``.xml``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from .source import Source, example_inputs, load_source

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "openvino": ".xml"}
META_PREFIX = "cnnlab."
OPSET = 18
# fp32 parity: the largest |export - eager| over the check images, relative to the largest |logit|
# (the scale of the outputs). Kernels differ in summation order, so deep nets drift by ~1e-6..1e-5.
PARITY_RTOL = 1e-4


@dataclass
class ParityResult:
    max_abs_diff: float
    max_abs_logit: float
    rel_diff: float
    top1_agreement: float  # the share of inputs on which both give the same answer (see ``agreement_of``)
    images: str
    ok: bool
    diverging_layer: str | None = None
    layer_detail: str | None = None
    agreement_of: str = "top-1 agreement"  # or "per-pixel class agreement" (segmentation), ... (detection)
    scale_of: str = "logit"  # what max_abs_logit is the largest of


@dataclass
class ExportReport:
    path: Path
    format: str
    size_bytes: int
    metadata: dict
    parity: ParityResult
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        p = self.parity
        lines = [
            f"wrote {self.path} ({self.format}, {self.size_bytes / 1e6:.2f} MB)",
            f"  metadata: model {self.metadata['model']}, input {'x'.join(map(str, self.metadata['input_size']))}"
            f" {self.metadata['channel_order']}, mean {_fmt(self.metadata['mean'])}, std "
            f"{_fmt(self.metadata['std'])}, {len(self.metadata['classes'])} classes, batch {self.metadata['batch']}",
            f"  parity vs eager PyTorch on {p.images}: max |diff| {p.max_abs_diff:.2e} (largest |{p.scale_of}| "
            f"{p.max_abs_logit:.3g}, relative {p.rel_diff:.1e} <= {PARITY_RTOL:.0e}), {p.agreement_of} "
            f"{p.top1_agreement:.1%}",
        ]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "format": self.format,
            "size_bytes": self.size_bytes,
            "metadata": self.metadata,
            "parity": asdict(self.parity),
            "notes": self.notes,
        }


def _fmt(v) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in v) + "]"


def deployment_metadata(source: Source, fmt: str, batch) -> dict:
    from .. import __version__

    c = source.input_size[0]
    return {
        "model": source.name,
        "model_args": source.meta.get("model_args", {}),
        "classes": list(source.meta["classes"]),
        "input_size": list(source.input_size),
        "mean": list(source.meta["mean"]),
        "std": list(source.meta["std"]),
        "scale": "pixels / 255, then (x - mean) / std per channel",
        "channel_order": {1: "L", 3: "RGB"}.get(c, f"{c} channels"),
        "layout": "NCHW",
        "background": source.meta.get("background", "any"),
        "batch": batch,
        "format": fmt,
        "weights": str(source.run_dir) if source.run_dir else "random (bare model)",
        "cnnlab_version": __version__,
    }


# -- writing each format --------------------------------------------------------------------------


@contextlib.contextmanager
def quiet():
    """The exporters' progress prints, deprecation warnings, torchvision-absent log lines and the
    quantizer's warnings."""
    loggers = [logging.getLogger("torch"), logging.getLogger()]  # root: onnxruntime's quantization tools
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def onnx_bytes(model: nn.Module, example: torch.Tensor, batch="dynamic", notes: list[str] | None = None) -> bytes:
    """An fp32 ONNX graph of ``model`` (opset 18, input ``input``, output ``logits``).

    PyTorch's TorchScript-based exporter first: it exports every registered family at its card's
    size in seconds (the torch.export-based one takes ~6x longer on 2 cores) and names nodes by
    module scope. Where it cannot (adaptive pooling to a size that does not divide its input, as
    AlexNet and VGG at small inputs), the torch.export-based exporter (onnxscript) is used and a
    note says so (docs/deployment.md)."""
    model = model.eval()
    try:
        return _export_torchscript_based(model, example, batch)
    except Exception as first:  # the exporters raise many types
        try:
            data = _export_dynamo(model, example, batch)
        except Exception as second:
            raise CnnlabError(
                f"ONNX export of {type(model).__name__} failed: {type(first).__name__}: "
                f"{_first_line(first)}; the torch.export-based exporter too: {type(second).__name__}: "
                f"{_first_line(second)}",
                "see docs/deployment.md, 'Every family exports'",
            ) from second
        if notes is not None:
            notes.append(
                f"exported with the torch.export-based exporter (the TorchScript-based one: {_first_line(first)[:120]})"
            )
        return data


def _first_line(e: Exception) -> str:
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(e).__name__


def _export_torchscript_based(model, example, batch) -> bytes:
    dynamic = {"input": {0: "batch"}, "logits": {0: "batch"}} if batch == "dynamic" else None
    buf = io.BytesIO()
    with quiet(), torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            buf,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return buf.getvalue()


def _export_dynamo(model, example, batch) -> bytes:
    shapes = None
    if batch == "dynamic":
        if example.shape[0] == 1:  # torch.export specialises a size-1 dimension: trace with two
            example = example.repeat(2, *([1] * (example.dim() - 1)))
        shapes = ({0: torch.export.Dim("batch")},)
    with quiet(), torch.no_grad():
        program = torch.onnx.export(
            model,
            (example,),
            None,
            dynamo=True,
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=shapes,
            opset_version=OPSET,
        )
    return program.model_proto.SerializeToString()


def _write_onnx(model, example, path: Path, meta: dict, batch, notes: list[str]) -> None:
    import onnx

    proto = onnx.load_from_string(onnx_bytes(model, example, batch, notes))
    set_onnx_metadata(proto, meta)
    _atomic(path, proto.SerializeToString())


def set_onnx_metadata(proto, meta: dict) -> None:
    keep = [p for p in proto.metadata_props if not p.key.startswith(META_PREFIX)]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META_PREFIX + k, json.dumps(v)


def _write_torchscript(model, example, path: Path, meta: dict) -> None:
    with quiet(), torch.no_grad():
        traced = torch.jit.trace(model.eval(), example, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf, _extra_files={"cnnlab.json": json.dumps(meta)})
    _atomic(path, buf.getvalue())


def _write_openvino(model, example, path: Path, meta: dict, batch, notes: list[str]) -> None:
    ov = require("openvino")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        onnx_path.write_bytes(onnx_bytes(model, example, batch, notes))
        with quiet():
            ov_model = ov.convert_model(str(onnx_path))
        for k, v in meta.items():
            ov_model.set_rt_info(json.dumps(v), ["cnnlab", k])
        xml, bin_ = Path(tmp) / "model.xml", Path(tmp) / "model.bin"
        ov.save_model(ov_model, str(xml), compress_to_fp16=False)  # fp32 weights: the parity check holds
        # the .xml names its .bin by file name: write the pair under the final names, then move
        final_bin = path.with_suffix(".bin")
        text = xml.read_bytes()
        _atomic(final_bin, bin_.read_bytes())
        _atomic(path, text)


def _atomic(path: Path, data: bytes) -> None:
    from ..runs import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def require(module: str):
    """Import an optional engine or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        extra = {"onnx": "export", "onnxruntime": "export", "openvino": "deploy"}.get(module, "deploy")
        raise CnnlabError(
            f"{module} is not installed", f"pip install 'cnnlab[{extra}]' (or pip install {module})"
        ) from None


# -- reading the metadata back --------------------------------------------------------------------


def read_metadata(path: str | Path) -> dict:
    """The ``cnnlab.*`` metadata of an exported ``.onnx``, TorchScript ``.pt`` or OpenVINO ``.xml``."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"exported file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        onnx = require("onnx")
        proto = onnx.load(str(path), load_external_data=False)
        return {
            p.key[len(META_PREFIX) :]: json.loads(p.value)
            for p in proto.metadata_props
            if p.key.startswith(META_PREFIX)
        }
    if suffix == ".pt":
        extra = {"cnnlab.json": ""}
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        return json.loads(extra["cnnlab.json"]) if extra["cnnlab.json"] else {}
    if suffix == ".xml":
        ov = require("openvino")
        model = ov.Core().read_model(str(path))
        if not model.has_rt_info(["cnnlab"]):
            return {}
        info = model.get_rt_info()["cnnlab"]
        return {k: json.loads(info[k].astype(str)) for k in info.keys()}
    raise CnnlabError(f"{path}: unknown file type {suffix!r}", "expected .onnx, .pt (TorchScript) or .xml (OpenVINO)")


# -- export with parity ---------------------------------------------------------------------------


def export(
    model_or_run,
    fmt: str = "onnx",
    path: str | Path | None = None,
    batch="dynamic",
    check_images: int = 16,
    source: Source | None = None,
    rtol: float = PARITY_RTOL,
) -> ExportReport:
    """Write ``model_or_run`` (a run folder, a model name or a :class:`Source`) as ``fmt``; check the
    file against eager PyTorch on real held-out images (random ones for a bare model); on a parity
    failure delete the file and raise, naming the first layer whose output diverges (ONNX)."""
    if fmt not in FORMATS:
        raise CnnlabError(f"unknown export format {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    batch = _parse_batch(batch)
    src = source or load_source(model_or_run)
    path = Path(path) if path else _default_path(src, fmt)
    if path.suffix.lower() != FORMATS[fmt]:
        raise CnnlabError(f"{path}: a {fmt} file must end in {FORMATS[fmt]}", f"e.g. -o model{FORMATS[fmt]}")
    n = max(1, check_images)
    if batch != "dynamic":  # a fixed batch: check whole batches of it
        n = -(-n // batch) * batch
    x, _, what = example_inputs(src, n, split="val")
    if len(x) < n:  # fewer held-out images than the batches need: repeat them
        x = x.repeat(-(-n // len(x)), 1, 1, 1)[:n]
    model, extra = deployable(src)
    meta = {**deployment_metadata(src, fmt, batch), **extra}
    notes = list(src.notes)
    if extra.get("task") == "detect":
        notes.append(
            "a detector: the file computes the dense detections (metadata 'output'); thresholds and NMS run "
            "after it (cnnlab.tasks.detect.deploy.select). The parity check reads box corners as fractions "
            "of the image side"
        )
    example = x[:1] if batch == "dynamic" else x[:batch]
    if fmt == "onnx":
        _write_onnx(model, example, path, meta, batch, notes)
    elif fmt == "torchscript":
        _write_torchscript(model, example, path, meta)
    else:
        _write_openvino(model, example, path, meta, batch, notes)
    try:
        parity = check_parity(model, path, x, what, rtol, chunk=None if batch == "dynamic" else batch)
    except BaseException:
        _remove(path)
        raise
    if not parity.ok:
        _remove(path)
        where = (
            f"; the first layer that diverges is {parity.diverging_layer} ({parity.layer_detail})"
            if parity.diverging_layer
            else ""
        )
        raise CnnlabError(
            f"{path}: the exported {fmt} model disagrees with PyTorch: max |diff| "
            f"{parity.max_abs_diff:.3g} = {parity.rel_diff:.2g} of the largest logit (allowed "
            f"{rtol:g}){where}; the file was not kept",
            "report the model and layer; try another format (--format onnx|torchscript|openvino)",
        )
    return ExportReport(path, fmt, _size(path), meta, parity, notes)


def deployable(source: Source) -> tuple[nn.Module, dict]:
    """The module an exported file holds and the metadata it adds: the model itself, or for a
    detector its dense half (:class:`cnnlab.tasks.detect.deploy.DenseDetector`: one output tensor;
    thresholds and NMS run after it, from the metadata)."""
    from ..tasks.detect.deploy import DenseDetector, is_detector

    model = source.model.eval()
    if is_detector(model):
        dense = DenseDetector(model, source.input_size)
        return dense, dense.metadata()
    task = source.meta.get("task")
    return model, ({"task": task} if task else {})


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    if path.suffix == ".xml":
        path.with_suffix(".bin").unlink(missing_ok=True)


def _size(path: Path) -> int:
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size


def _parse_batch(batch):
    if batch in (None, "dynamic"):
        return "dynamic"
    try:
        b = int(batch)
    except (TypeError, ValueError):
        raise CnnlabError(
            f"--batch {batch!r} is neither 'dynamic' nor a number", "e.g. --batch dynamic or --batch 1"
        ) from None
    if b < 1:
        raise CnnlabError(f"--batch must be at least 1, got {b}")
    return b


def _default_path(src: Source, fmt: str) -> Path:
    base = (src.run_dir / "model") if src.run_dir else Path(src.name)
    return base.with_suffix(FORMATS[fmt])


def check_parity(
    model: nn.Module, path: Path, x: torch.Tensor, what: str, rtol: float = PARITY_RTOL, chunk: int | None = None
) -> ParityResult:
    """Run the exported file and eager PyTorch on ``x`` (in batches of ``chunk`` for a file with a
    fixed batch) and compare the logits."""
    from .engines import make_runner

    engine = {".onnx": "onnxruntime", ".pt": "torchscript", ".xml": "openvino"}[path.suffix.lower()]
    runner = make_runner(path, engine=engine, precision="fp32")
    with torch.no_grad():
        ref = model.eval()(x).float()
    out = torch.cat([runner(c).float() for c in (x.split(chunk) if chunk else [x])])
    view = getattr(model, "parity_view", None)  # a detector: box corners as fractions of the image
    a, b = (view(out), view(ref)) if view else (out, ref)
    diff = float((a - b).abs().max())
    scale = float(b.abs().max())
    rel = diff / max(scale, 1e-12)
    if hasattr(model, "parity_agreement"):
        agree, of = model.parity_agreement(out, ref)
    else:
        agree = float((out.argmax(1) == ref.argmax(1)).float().mean())
        of = "per-pixel class agreement" if ref.dim() == 4 else "top-1 agreement"
    ok = bool(np.isfinite(diff)) and rel <= rtol
    result = ParityResult(diff, scale, rel, agree, what, ok, agreement_of=of, scale_of="output" if view else "logit")
    if not ok and engine in ("onnxruntime", "openvino"):
        onnx_path = path
        with tempfile.TemporaryDirectory() as tmp:
            if engine == "openvino":
                onnx_path = Path(tmp) / "model.onnx"
                onnx_path.write_bytes(onnx_bytes(model, x[:1]))
            found = find_diverging_layer(model, onnx_path, x[:1], rtol)
        if found:
            result.diverging_layer, result.layer_detail = found
    return result


# -- locating the first diverging layer (ONNX) ----------------------------------------------------


def _node_scope(node) -> str | None:
    """The module path an ONNX node came from: the torch.export-based exporter keeps it in the node's
    ``pkg.torch.onnx.name_scopes`` metadata, the TorchScript-based one in the node name
    (``/layer1/layer1.0/conv1/Conv``); both give ``layer1.0.conv1``."""
    import ast

    scopes = None
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = [s for s in ast.literal_eval(prop.value)[:-1] if s]
            except (ValueError, SyntaxError):
                return None
            break
    if scopes is None:
        parts = [p for p in node.name.split("/") if p]
        if len(parts) < 2:
            return None
        scopes = parts[:-1]
    # each scope level is printed as the attribute name or as the dotted path so far: rebuild the path
    path: list[str] = []
    for s in scopes:
        if path and s.startswith(".".join(path) + "."):
            path = s.split(".")
        else:
            path.append(s)
    return ".".join(path) or None


def find_diverging_layer(model: nn.Module, onnx_path: Path, x: torch.Tensor, rtol: float) -> tuple[str, str] | None:
    """Compare every leaf module's output in PyTorch with the same tensor in ONNX Runtime; return
    the first (in execution order) whose relative difference exceeds ``rtol``, with the figures."""
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(onnx_path))
    last_output: dict[str, str] = {}
    for node in proto.graph.node:
        scope = _node_scope(node)
        if scope and node.output:
            last_output[scope] = node.output[0]
    captured: list[tuple[str, nn.Module, torch.Tensor]] = []
    handles = []
    for name, mod in model.named_modules():
        if name and not any(True for _ in mod.children()):
            handles.append(
                mod.register_forward_hook(
                    lambda m, a, out, name=name: (
                        captured.append((name, m, out.detach().clone()))  # in-place activations
                        if isinstance(out, torch.Tensor)
                        else None
                    )
                )
            )
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    # the exporter folds an eval-mode batch norm into the convolution before it: the ONNX tensor
    # named after the convolution is then the batch norm's output
    pairs = []
    for i, (name, mod, out) in enumerate(captured):
        if name not in last_output:
            continue
        nxt = captured[i + 1] if i + 1 < len(captured) else None
        if nxt is not None and nxt[0] not in last_output and isinstance(nxt[1], nn.modules.batchnorm._BatchNorm):
            out = nxt[2]
        pairs.append((name, mod, out))
    captured = pairs
    if not captured:
        return None
    existing = {o.name for o in proto.graph.output}
    for name, _, _ in captured:
        if last_output[name] not in existing:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(last_output[name]))
            existing.add(last_output[name])
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: x.numpy()})))
    for name, mod, ref in captured:
        got = values.get(last_output[name])
        if got is None or tuple(got.shape) != tuple(ref.shape):
            continue
        d = float(np.abs(got - ref.numpy()).max())
        s = float(ref.abs().max())
        if not np.isfinite(d) or d > rtol * max(s, 1e-12):
            return name, f"{type(mod).__name__}: max |diff| {d:.3g}, largest |value| {s:.3g}"
    return None
