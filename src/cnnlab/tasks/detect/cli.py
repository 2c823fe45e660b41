"""What ``cnnlab evaluate``, ``predict`` and ``bench`` do with a detection run (each command's module
hands over here when the run's metadata says ``task: detect``)."""

from __future__ import annotations

import json
from pathlib import Path


def evaluate_command(args, ref) -> int:
    from .api import evaluate

    options = {k: v for k, v in (("val_split", args.val_split), ("image_size", args.image_size)) if v is not None}
    options["progress"] = args.progress
    out = (
        None
        if args.no_plots
        else Path(args.out)
        if args.out
        else (ref.run_dir or ref.weights.parent) / f"eval-{args.split}"
    )
    result = evaluate(
        ref,
        args.data,
        args.split,
        batch_size=min(args.batch_size, 64),
        data_options=options,
        progress=args.progress,
        threads=args.threads,
        out=out,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.text())
        for what, path in result.files.items():
            print(f"{what}: {path}")
    return 0


def predict_command(args) -> int:
    from ...cli.common import runner_from_args
    from ...deploy.source import load_source
    from .api import predict

    results = predict(
        args.run, args.images, progress=args.progress, runner=runner_from_args(args, load_source(args.run))
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        found = ", ".join(
            f"{c} {s:.2f} at ({b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f})"
            for b, c, s in zip(r.boxes, r.labels, r.scores)
        )
        print(f"{r.file}: {len(r.boxes)} object(s){': ' + found if found else ''}")
        print(f"  picture: {r.picture}")
    return 0


def bench_command(args) -> int:
    from .bench import bench_detector

    res = bench_detector(
        args.model,
        rounds=args.rounds,
        calls=3 if args.tiny else 10,
        threads=args.threads or (1 if args.tiny else None),
        input_size=args.input,
        engines=args.engines,
    )
    print(json.dumps(res.to_dict(), indent=2) if args.json else res.text())
    return 0


def is_detector_spec(spec: str) -> bool:
    """A detection run folder / weight file, or the name of a registered detector."""
    from ...errors import CnnlabError
    from ...models import list_models, model_card

    if str(spec) in list_models():
        return model_card(str(spec)).task == "detect"
    try:
        from ...runs import resolve_model
        from .api import is_detection_run

        return is_detection_run(resolve_model(spec))
    except CnnlabError:
        return False
