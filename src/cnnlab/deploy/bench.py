"""``cnnlab bench``: every engine and precision side by side in one process, on the same inputs.

For each (engine, precision): batch-1 latency (p50 and p95 over all timed calls), throughput at
batch N (median of the rounds), the ratio to eager fp32 PyTorch measured in the same rounds, and
how far its outputs are from eager fp32's (largest |diff| / largest |logit|, top-1 agreement).
Rounds are interleaved (A B C A B C ...), so a neighbour's load hits every engine alike; the
ratios are the figures to compare, absolute times only hold on a quiet machine.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..errors import CnnlabError
from .engines import ENGINES, Runner, engine_available, make_runner
from .source import Source, calibrate_bn, example_inputs, load_source, randomize_zero_layers

DEFAULT_CONFIGS = [
    ("eager", "fp32"),
    ("eager", "bf16"),
    ("compile", "fp32"),
    ("compile", "bf16"),
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
]


@dataclass
class BenchRow:
    engine: str
    precision: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    throughput: float | None = None  # images/s at the large batch
    speedup: float | None = None  # throughput / eager fp32's, same rounds
    rel_diff: float | None = None  # max |out - eager fp32| / max |eager fp32|
    top1_agreement: float | None = None
    setup_s: float = 0.0
    skipped: str = ""  # why the row was not measured (engine not installed, export failed)


@dataclass
class BenchResult:
    model: str
    input_size: tuple
    batch: int
    threads: int
    inputs: str
    rows: list[BenchRow]
    cpu: str = ""
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = f"{self.model} {'x'.join(map(str, self.input_size))}, {self.inputs}; {self.threads} threads; {self.cpu}"
        cols = [
            "engine",
            "precision",
            "b1 p50 ms",
            "b1 p95 ms",
            f"b{self.batch} img/s",
            "x eager fp32",
            "max|diff|/max|logit|",
            "top-1 agree",
            "setup s",
        ]
        table = []
        for r in self.rows:
            if r.skipped:
                table.append([r.engine, r.precision, f"skipped: {r.skipped}"])
                continue
            table.append(
                [
                    r.engine,
                    r.precision,
                    _f(r.p50_ms, ".2f"),
                    _f(r.p95_ms, ".2f"),
                    _f(r.throughput, ",.1f"),
                    _f(r.speedup, ".2f") + "x" if r.speedup else "-",
                    _f(r.rel_diff, ".1e"),
                    _f(r.top1_agreement, ".1%"),
                    f"{r.setup_s:.1f}",
                ]
            )
        widths = [
            max(len(c), *(len(row[i]) for row in table if len(row) > i and not row[2].startswith("skipped")))
            for i, c in enumerate(cols)
        ]
        lines = [head, "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))]
        for row in table:
            if len(row) == 3:
                lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
            else:
                lines.append(
                    "  ".join(v.rjust(w) if i > 1 else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
                )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {**asdict(self), "input_size": list(self.input_size)}


def _f(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def parse_configs(engines: str | list[str] | None) -> list[tuple[str, str]]:
    """``"eager,onnxruntime:int8,openvino"`` -> (engine, precision) pairs; an engine without a
    precision means all its precisions."""
    if not engines:
        return list(DEFAULT_CONFIGS)
    items = engines.split(",") if isinstance(engines, str) else list(engines)
    out: list[tuple[str, str]] = [("eager", "fp32")]  # the reference is always measured
    for item in (i.strip() for i in items if i.strip()):
        engine, _, precision = item.partition(":")
        if engine not in ENGINES:
            raise CnnlabError(
                f"unknown engine {engine!r}",
                f"choose from {', '.join(ENGINES)} (optionally ENGINE:PRECISION, e.g. openvino:bf16)",
            )
        precisions = [precision] if precision else list(ENGINES[engine])
        for p in precisions:
            if p not in ENGINES[engine]:
                raise CnnlabError(f"engine {engine} does not run {p}", f"{engine} runs {', '.join(ENGINES[engine])}")
            if (engine, p) not in out:
                out.append((engine, p))
    return out


def bench(
    model_or_run: str | Source,
    batch: int = 32,
    engines=None,
    rounds: int = 5,
    latency_calls: int = 10,
    threads: int | None = None,
    calibration: int = 64,
    tiny: bool = False,
    progress: bool = False,
    extra: dict | None = None,
) -> BenchResult:
    """Measure the engines on one model (a run folder, a model name or a :class:`Source`).

    ``extra``: more rows, ``{label: callable(model, example, calibration) -> Runner}``, timed in the
    same rounds (the benchmark script adds each engine's own tuned settings this way)."""
    from ..runtime import configure

    if batch < 1:
        raise CnnlabError(f"the throughput batch must be at least 1, got {batch}")
    if tiny:
        rounds, latency_calls, calibration = min(rounds, 2), min(latency_calls, 3), min(calibration, 8)
    configs = parse_configs(engines)
    threads = configure(threads)
    source = model_or_run if isinstance(model_or_run, Source) else load_source(model_or_run)
    model = source.model.eval()
    x, _, what = example_inputs(source, batch, split="val")
    if len(x) < batch:
        x = x.repeat(-(-batch // len(x)), 1, 1, 1)[:batch]
    notes = []
    calib = _calibration_inputs(source, model, calibration, notes)
    rows, runners = _build_runners(model, configs, extra or {}, batch, threads, x, calib, progress)
    lat, thr = _time_rounds(runners, x, rounds, latency_calls, progress)
    _fill_rows(rows, runners, lat, thr, x, batch)
    notes.append(
        "int8 rows are calibrated on "
        + ("random inputs (bare model)" if not source.trained else f"{len(calib)} training images")
    )
    notes.append("absolute times hold only on a quiet machine; compare the ratios (same process, interleaved rounds)")
    return BenchResult(source.name, source.input_size, batch, threads, what, rows, _cpu(), notes)


def _calibration_inputs(source: Source, model, calibration: int, notes: list[str]) -> torch.Tensor:
    """The int8 engines' calibration images: training images of a run, random inputs for a bare model
    (whose batch-norm statistics are first calibrated on random inputs: denormals slow every engine)."""
    if source.trained:
        from .quantize import calibration_images

        return calibration_images(source, None, calibration)
    zeroed = randomize_zero_layers(model)
    if zeroed:
        notes.append(
            f"the zero-initialised {', '.join(zeroed)} got small random weights (all-zero "
            "outputs would make every engine agree)"
        )
    calibrate_bn(model, torch.randn(16, *source.input_size, generator=torch.Generator().manual_seed(1)))
    notes.append(
        "random weights; batch-norm statistics calibrated on random inputs first (float32 "
        "denormals would otherwise slow every engine 10-50x)"
    )
    return torch.randn(calibration, *source.input_size, generator=torch.Generator().manual_seed(2))


def _build_runners(
    model, configs, extra: dict, batch: int, threads, x: torch.Tensor, calib: torch.Tensor, progress: bool
) -> tuple[list[BenchRow], dict[int, Runner]]:
    """One row per engine configuration and ``extra`` entry; a runner (warmed up at batch 1 and at
    ``batch``) for each that builds, the reason in ``row.skipped`` for each that does not."""
    from tqdm import tqdm

    x1 = x[:1]
    rows: list[BenchRow] = []
    runners: dict[int, Runner] = {}
    for i, (engine, precision) in enumerate(tqdm(configs, desc="building engines", disable=not progress, leave=False)):
        row = BenchRow(engine, precision)
        rows.append(row)
        ok, msg = engine_available(engine)
        if not ok:
            row.skipped = msg
            continue
        try:
            r = make_runner(model, engine, precision, batch=batch, threads=threads, example=x1, calibration=calib)
            t = time.perf_counter()
            r(x1)
            r(x)  # warm-up both shapes (torch.compile compiles each here)
            row.setup_s = r.setup_s + time.perf_counter() - t
            runners[i] = r
        except CnnlabError as e:
            row.skipped = str(e).splitlines()[0][:120]
    for label, build in extra.items():
        row = BenchRow(label, "")
        rows.append(row)
        try:
            t = time.perf_counter()
            r = build(model, x1, calib)
            row.precision = r.precision
            r(x1)
            r(x)
            row.setup_s = time.perf_counter() - t
            runners[len(rows) - 1] = r
        except CnnlabError as e:
            row.skipped = str(e).splitlines()[0][:120]
    return rows, runners


def _time_rounds(runners: dict[int, Runner], x: torch.Tensor, rounds: int, latency_calls: int, progress: bool):
    """Interleaved rounds: per round and runner, ``latency_calls`` single-image calls, then one batch."""
    from tqdm import tqdm

    x1 = x[:1]
    lat: dict[int, list[float]] = {i: [] for i in runners}
    thr: dict[int, list[float]] = {i: [] for i in runners}
    for _ in tqdm(range(rounds), desc="timing rounds", disable=not progress, leave=False):
        for i, r in runners.items():
            for _ in range(latency_calls):
                t = time.perf_counter()
                r(x1)
                lat[i].append(time.perf_counter() - t)
            t = time.perf_counter()
            r(x)
            thr[i].append(time.perf_counter() - t)
    return lat, thr


def _fill_rows(
    rows: list[BenchRow], runners: dict[int, Runner], lat: dict, thr: dict, x: torch.Tensor, batch: int
) -> None:
    """Latency percentiles, throughput, speed-up over the first row, agreement with the first row's outputs."""
    ref = runners[0](x) if 0 in runners else None
    base = None
    for i, r in runners.items():
        row = rows[i]
        row.p50_ms = float(np.percentile(lat[i], 50)) * 1000
        row.p95_ms = float(np.percentile(lat[i], 95)) * 1000
        row.throughput = batch / float(np.median(thr[i]))
        if i == 0:
            base = row.throughput
        if ref is not None:
            out = r(x)
            row.rel_diff = float((out - ref).abs().max()) / max(float(ref.abs().max()), 1e-12)
            row.top1_agreement = float((out.argmax(1) == ref.argmax(1)).float().mean())
    for row in rows:
        if base and row.throughput:
            row.speedup = row.throughput / base


def _cpu() -> str:
    from .engines import _cpu_name

    return _cpu_name() or platform.processor() or platform.machine()
