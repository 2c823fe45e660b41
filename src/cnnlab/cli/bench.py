"""``cnnlab bench RUN|MODEL``: inference engines side by side in one process."""

from __future__ import annotations

import json

from .common import Formatter

EPILOG = """examples:
  cnnlab bench resnet18                               every engine and precision, batch 1 and 32
  cnnlab bench runs/r20 --batch 1,128 --engines eager,onnxruntime,openvino:bf16
  cnnlab bench lenet5 --tiny                          a few seconds: fewer rounds, no torch.compile

--engines takes ENGINE or ENGINE:PRECISION items (eager, compile: fp32/bf16; onnxruntime: fp32/int8;
openvino: fp32/bf16/int8). Eager fp32 PyTorch is always measured: it is the reference for the
speed-up column and for the outputs-agreement columns (largest |diff| / largest |logit|, top-1
agreement on the batch). Engines that are not installed are listed as skipped with what to install.
Timings are only meaningful on a quiet machine; the ratios survive some load (interleaved rounds)."""


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="latency and throughput of every inference engine, side by side",
        formatter_class=Formatter,
        epilog=EPILOG,
        description="Batch-1 latency (p50/p95) and batch-N throughput per engine and precision, "
        "measured in one process on the same inputs, with the speed-up over eager "
        "fp32 PyTorch and how closely each engine's outputs agree with it.",
    )
    p.add_argument("model", metavar="RUN|MODEL", help="run folder from `cnnlab train`, or a registered model name")
    p.add_argument("--batch", default="1,32", help="'1,N': latency at batch 1, throughput at batch N")
    p.add_argument(
        "--engines",
        default=None,
        help="comma-separated ENGINE[:PRECISION]; when not given: all (all but compile with --tiny)",
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="intra-op threads for every engine; when not given: the available cores",
    )
    p.add_argument(
        "--input", metavar="CxHxW", default=None, help="input size of a bare model; when not given: its card's"
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="a quick check: 2 rounds, 3 latency calls, at most batch 4, one thread unless --threads",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.bench import DEFAULT_CONFIGS, bench
    from ..deploy.source import load_source
    from ..errors import CnnlabError
    from ..tasks.detect.cli import is_detector_spec

    if is_detector_spec(args.model):  # a detector: batch-1 latency with and without NMS (cnnlab.tasks.detect)
        from ..tasks.detect.cli import bench_command

        return bench_command(args)
    parts = [s for s in str(args.batch).split(",") if s.strip()]
    try:
        batch = max(int(s) for s in parts)
    except ValueError:
        raise CnnlabError(f"--batch {args.batch!r} must be numbers like 1,32") from None
    engines = args.engines
    if args.tiny:
        batch = min(batch, 4)
        if engines is None:
            engines = [f"{e}:{p}" for e, p in DEFAULT_CONFIGS if e != "compile"]
    source = load_source(args.model, input_size=args.input)
    threads = args.threads or (1 if args.tiny else None)  # one thread: robust on a busy machine
    res = bench(
        source,
        batch=batch,
        engines=engines,
        rounds=args.rounds,
        threads=threads,
        tiny=args.tiny,
        progress=not args.json,
    )
    print(json.dumps(res.to_dict(), indent=2) if args.json else res.text())
    return 0
