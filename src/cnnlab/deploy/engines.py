"""One way to run a network whatever executes it: ``make_runner(...)`` returns a callable that maps a
float32 N x C x H x W tensor (normalised as in training) to a logits tensor.

    >>> run = make_runner(model, engine="onnxruntime")             # exports to ONNX in memory
    >>> run = make_runner("r20.int8.onnx", engine="openvino", precision="int8")
    >>> run = make_runner(model, engine="auto", batch=32)          # the fastest installed, measured once
    >>> logits = run(x)

Engines and precisions (``ENGINES``): eager PyTorch (fp32; bf16 = autocast + channels-last),
``compile`` (torch.compile, Inductor; fp32/bf16), ONNX Runtime (fp32; int8 = a QDQ file from
``cnnlab.deploy.quantize``), OpenVINO (fp32, bf16 via its precision hint, int8). ``torchscript``
runs ``.pt`` files. ONNX Runtime and OpenVINO are optional packages: a missing one gives a
:class:`CnnlabError` naming the extra to install.

``auto`` times every installed engine that supports the precision on this model and input shape,
keeps the fastest whose outputs agree with eager PyTorch, and caches the choice in
``$CNNLAB_HOME/engine-choice.json`` (default ``~/.cache/cnnlab``), keyed by model, shape, batch,
precision, threads, CPU and library versions.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import CnnlabError
from ..runtime import configure

ENGINES = {  # engine -> precisions it runs
    "eager": ("fp32", "bf16"),
    "compile": ("fp32", "bf16"),
    "onnxruntime": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
}
ENGINE_CHOICES = (*ENGINES, "auto")
PACKAGES = {"onnxruntime": "onnxruntime", "openvino": "openvino"}
# engines `auto` tries: torch.compile is left out (10-40 s of compilation per input shape on 2
# cores, rarely repaid by one prediction job); ask for it by name
AUTO_CANDIDATES = ("eager", "onnxruntime", "openvino")
AGREEMENT_RTOL = {"fp32": 1e-3, "bf16": 5e-2, "int8": 2.5e-1}


def engine_available(engine: str) -> tuple[bool, str]:
    """(installed, message): the message says what to install when it is not."""
    pkg = PACKAGES.get(engine)
    if pkg is None:
        return True, ""
    if importlib.util.find_spec(pkg) is None:
        extra = "export" if engine == "onnxruntime" else "deploy"
        return False, f"{engine} is not installed (pip install 'cnnlab[{extra}]')"
    return True, ""


def installed_engines() -> list[str]:
    return [e for e in ENGINES if engine_available(e)[0]]


class Runner:
    """A callable ``x -> logits`` with what it runs on: ``engine``, ``precision``, ``batch`` (None:
    any) and ``setup_s`` (export/compile time spent building it)."""

    def __init__(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        engine: str,
        precision: str,
        batch: int | None = None,
        setup_s: float = 0.0,
        note: str = "",
    ):
        self._fn, self.engine, self.precision, self.batch = fn, engine, precision, batch
        self.setup_s, self.note = setup_s, note

    @property
    def name(self) -> str:
        return f"{self.engine} {self.precision}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._fn(x)

    def __repr__(self) -> str:
        return f"Runner({self.name}, batch={self.batch})"


def _check(engine: str, precision: str) -> None:
    if engine not in ENGINE_CHOICES and engine != "torchscript":
        raise CnnlabError(f"unknown engine {engine!r}", f"choose one of {', '.join(ENGINE_CHOICES)}")
    if engine in ENGINES and precision not in ENGINES[engine]:
        raise CnnlabError(f"engine {engine} does not run {precision}", f"{engine} runs {', '.join(ENGINES[engine])}")
    ok, msg = engine_available(engine)
    if not ok:
        raise CnnlabError(msg, "or choose another --engine")


def make_runner(
    model_or_file,
    engine: str = "eager",
    precision: str = "fp32",
    batch: int | None = None,
    threads: int | None = None,
    example: torch.Tensor | None = None,
    calibration: torch.Tensor | None = None,
) -> Runner:
    """A :class:`Runner` for an ``nn.Module`` or an exported file (``.onnx``, ``.xml``, ``.pt``).

    ``example``: an input (its shape sets the export; default the model's card size, batch 1).
    ``calibration``: images for int8 on a module (quantized here through ``cnnlab.deploy.quantize``).
    ``batch``: the batch the runner is tuned for (OpenVINO compiles that shape; others take any).
    ``threads``: intra-op threads for every engine (default: the available cores).
    """
    threads = configure(threads)
    if engine == "auto":
        return auto_runner(model_or_file, precision, batch, threads, example, calibration)
    is_file = isinstance(model_or_file, (str, Path))
    if is_file:
        path = Path(model_or_file)
        if not path.is_file():
            raise CnnlabError(f"model file not found: {path}")
        suffix = path.suffix.lower()
        if suffix == ".pt":
            engine = "torchscript" if engine in ("eager", "torchscript") else engine
        if suffix not in (".onnx", ".xml", ".pt"):
            raise CnnlabError(
                f"{path}: cannot run a {suffix or 'suffix-less'} file",
                "pass an .onnx, OpenVINO .xml or TorchScript .pt file, or a run folder",
            )
    _check(engine, precision)
    t0 = time.perf_counter()
    if engine == "torchscript":
        if not is_file or Path(model_or_file).suffix.lower() != ".pt":
            raise CnnlabError("the torchscript engine runs TorchScript .pt files", "use --engine eager for a model")
        fn = _torchscript(Path(model_or_file))
    elif engine in ("eager", "compile"):
        if is_file:
            raise CnnlabError(
                f"engine {engine} runs a PyTorch model, not the file {model_or_file}",
                "pass the run folder (or use --engine onnxruntime / openvino for exported files)",
            )
        fn = _torch(model_or_file, precision, engine == "compile")
    else:
        source = Path(model_or_file) if is_file else _onnx_for(model_or_file, precision, example, calibration)
        fn = _ort(source, threads) if engine == "onnxruntime" else _openvino(source, precision, threads, batch)
    return Runner(fn, engine, precision, batch, time.perf_counter() - t0)


def _example(model: nn.Module, example: torch.Tensor | None) -> torch.Tensor:
    if example is not None:
        return example[:1]
    size = getattr(model, "default_input_size", None)
    if size is None:
        card = getattr(model, "card", None)
        size = getattr(card, "input_size", None)
    if size is None:
        raise CnnlabError(f"{type(model).__name__}: no input size known", "pass example=<a tensor of one input>")
    return torch.randn(1, *size)


def _onnx_for(model: nn.Module, precision: str, example, calibration) -> bytes:
    from .export import onnx_bytes

    x = _example(model, example)
    if precision == "int8":
        from .quantize import quantize_onnx

        if calibration is None:
            raise CnnlabError(
                "int8 needs calibration images to choose the activation ranges",
                "pass calibration=<N x C x H x W tensor> (CLI: the run's training images)",
            )
        return quantize_onnx(onnx_bytes(model, x), calibration)
    return onnx_bytes(model, x)


def _torch(model: nn.Module, precision: str, compiled: bool):
    model = model.eval()
    bf16 = precision == "bf16"
    if bf16 or compiled:  # a copy: the caller's model (and an eager fp32 runner sharing it) stays as it was
        model = copy.deepcopy(model)
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    fn = torch.compile(model, dynamic=False) if compiled else model

    def run(x: torch.Tensor) -> torch.Tensor:
        if bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), ctx:
            return fn(x).float()

    return run


def _torchscript(path: Path):
    module = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return module(x).float()

    return run


def _ort(source: Path | bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        str(source) if isinstance(source, Path) else source, opts, providers=["CPUExecutionProvider"]
    )
    name = sess.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        out = sess.run(None, {name: np.ascontiguousarray(x.detach().float().numpy())})[0]
        return torch.from_numpy(out)

    return run


def _openvino(source: Path | bytes, precision: str, threads: int, batch: int | None):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(source)) if isinstance(source, Path) else _ov_from_bytes(core, source)
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
    }
    compiled: dict[int, object] = {}

    def request(n: int):
        req = compiled.get(n)
        if req is None:
            m = model.clone()
            shape = m.input(0).get_partial_shape()
            if shape.rank.is_static and shape[0].is_dynamic:
                dims = [n] + [d.get_length() if d.is_static else -1 for d in list(shape)[1:]]
                m.reshape({m.input(0): ov.PartialShape(dims)})
            req = core.compile_model(m, "CPU", config).create_infer_request()
            compiled[n] = req
        return req

    if batch:
        request(batch)

    def run(x: torch.Tensor) -> torch.Tensor:
        req = request(int(x.shape[0]))
        req.infer({0: np.ascontiguousarray(x.detach().float().numpy())})
        return torch.from_numpy(req.get_output_tensor(0).data.copy())

    return run


def _ov_from_bytes(core, data: bytes):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "model.onnx"
        p.write_bytes(data)
        return core.read_model(str(p))


# -- auto -----------------------------------------------------------------------------------------


def cache_dir() -> Path:
    home = os.environ.get("CNNLAB_HOME")
    return Path(home) if home else Path.home() / ".cache" / "cnnlab"


def _versions() -> str:
    parts = [f"torch {torch.__version__}"]
    for pkg in ("onnxruntime", "openvino"):
        if importlib.util.find_spec(pkg) is not None:
            parts.append(f"{pkg} {getattr(importlib.import_module(pkg), '__version__', '?')}")
    return ", ".join(parts)


def _model_key(model_or_file) -> str:
    if isinstance(model_or_file, (str, Path)):
        p = Path(model_or_file)
        st = p.stat()
        return f"file {p.resolve()} {st.st_size} {int(st.st_mtime)}"
    name = getattr(model_or_file, "model_name", None) or type(model_or_file).__name__
    n = sum(p.numel() for p in model_or_file.parameters())
    return f"{name} ({n} params)"


def auto_runner(
    model_or_file, precision: str, batch: int | None, threads: int, example, calibration, repeats: int = 5
) -> Runner:
    """The fastest installed engine for this model, input shape, batch and precision (measured once
    here, cached): only engines whose outputs agree with eager PyTorch qualify."""
    from ..runs import write_json

    x1 = _example(model_or_file, example) if not isinstance(model_or_file, (str, Path)) else example
    if x1 is None:
        raise CnnlabError("engine auto on a file needs an example input", "pass example=<tensor>")
    n = batch or 1
    x = x1[:1].expand(n, *x1.shape[1:]).contiguous() + 0.01 * torch.randn(n, *x1.shape[1:])
    key = (
        f"{_model_key(model_or_file)} | {'x'.join(map(str, x.shape[1:]))} | batch {n} | {precision} | "
        f"{threads} threads | {platform.processor() or platform.machine()} {_cpu_name()} | {_versions()}"
    )
    file = cache_dir() / "engine-choice.json"
    cache = {}
    if file.is_file():
        try:
            cache = json.loads(file.read_text())
        except (json.JSONDecodeError, OSError):
            cache = {}
    hit = cache.get(key)
    if hit and engine_available(hit["engine"])[0]:
        r = make_runner(model_or_file, hit["engine"], precision, batch, threads, example, calibration)
        r.note = f"auto: {hit['engine']} (cached choice, {hit['ms']:.2f} ms per batch of {n} when measured)"
        return r
    is_file = isinstance(model_or_file, (str, Path))
    candidates = [
        e
        for e in AUTO_CANDIDATES
        if precision in ENGINES[e] and engine_available(e)[0] and not (is_file and e == "eager")
    ]
    if not candidates:
        raise CnnlabError(
            f"no installed engine runs {precision} on this input",
            "pip install 'cnnlab[deploy]' for ONNX Runtime and OpenVINO",
        )
    ref = None
    if not is_file:
        with torch.inference_mode():
            ref = model_or_file.eval()(x).float()
    timings: dict[str, float] = {}
    runners: dict[str, Runner] = {}
    for engine in candidates:
        try:
            r = make_runner(model_or_file, engine, precision, batch, threads, example, calibration)
            out = r(x)
        except CnnlabError:
            continue
        if ref is not None:
            rel = float((out - ref).abs().max()) / max(float(ref.abs().max()), 1e-12)
            if not rel <= AGREEMENT_RTOL[precision]:
                continue
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            r(x)
            times.append(time.perf_counter() - t)
        timings[engine] = float(np.median(times)) * 1000
        runners[engine] = r
    if not timings:
        raise CnnlabError(f"no engine reproduced eager PyTorch's outputs at {precision}", "use --engine eager")
    best = min(timings, key=timings.get)
    cache[key] = {"engine": best, "ms": timings[best], "measured": {k: round(v, 3) for k, v in timings.items()}}
    file.parent.mkdir(parents=True, exist_ok=True)
    write_json(file, cache)
    r = runners[best]
    r.note = (
        "auto: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in sorted(timings.items(), key=lambda kv: kv[1]))
        + f" per batch of {n} -> {best} (cached in {file})"
    )
    return r


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
