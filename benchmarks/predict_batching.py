"""Batched ``cnnlab predict`` against one image at a time, on the same image files, in one process.

Writes ``--images`` PNG files (MNIST test digits from the built-in sample, or random RGB images for
an RGB model), saves an untrained model as a cnnlab run folder (prediction speed does not depend
on the weights), then times ``cnnlab.predict(run, files, batch_size=B)`` and
``cnnlab.predict(run, files, batch_size=1)`` in alternation, ``--repeats`` rounds each, and prints
the medians and their ratio. End to end: decoding, preparing (inversion, centring, resizing) and
the forward passes. Timings under load mean nothing; run on a quiet machine:

    .venv/bin/python benchmarks/predict_batching.py
    .venv/bin/python benchmarks/predict_batching.py --model resnet18 --size 64 --batch-size 64
    .venv/bin/python benchmarks/predict_batching.py --images 50 --repeats 1      # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def write_images(folder: Path, n: int, channels: int, size: int) -> list[Path]:
    from cnnlab.data import load_data

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    if channels == 1:
        test = load_data("mnist-sample", val_split=0).test
        arrays = [test.images[i % len(test), 0].numpy() for i in range(n)]
    else:
        rng = np.random.default_rng(0)
        arrays = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    for i, a in enumerate(arrays):
        p = folder / f"{i:05d}.png"
        Image.fromarray(a).save(p)
        paths.append(p)
    return paths


def make_run(folder: Path, model_name: str, channels: int, size: int) -> Path:
    from cnnlab.models import create_model
    from cnnlab.runs import save_model

    folder.mkdir(parents=True, exist_ok=True)
    model = create_model(model_name, num_classes=10, in_chans=channels).eval()
    meta = {"model": model_name, "model_args": {"in_chans": channels}, "classes": [str(i) for i in range(10)],
            "input_size": [channels, size, size], "mean": [0.5] * channels, "std": [0.25] * channels,
            "background": "dark" if channels == 1 else "light"}
    save_model(folder / "model.safetensors", model, meta)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--size", type=int, default=28, help="input side (lenet5: 28)")
    ap.add_argument("--channels", type=int, default=None, help="1 or 3 (default: 1 for lenet5, else 3)")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="rounds of (batched, one at a time)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from cnnlab import runtime
    from cnnlab.predict import predict

    threads = runtime.configure(args.threads or None)
    channels = args.channels or (1 if args.model == "lenet5" else 3)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_images(Path(tmp) / "images", args.images, channels, args.size)
        run = make_run(Path(tmp) / "run", args.model, channels, args.size)
        from cnnlab.runs import load_run

        loaded = load_run(run)
        predict(loaded, files[:8], batch_size=8)  # warm-up: first-call allocations, imports
        times = {"batched": [], "single": []}
        same = True
        for _ in range(args.repeats):  # interleaved: both see the same machine state
            t0 = time.perf_counter()
            a = predict(loaded, files, batch_size=args.batch_size)
            times["batched"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            b = predict(loaded, files, batch_size=1)
            times["single"].append(time.perf_counter() - t0)
            same &= all(x.label == y.label for x, y in zip(a, b))
    med = {k: statistics.median(v) for k, v in times.items()}
    row = {"model": args.model, "input": f"{channels}x{args.size}x{args.size}", "images": args.images,
           "batch_size": args.batch_size, "threads": threads, "torch": torch.__version__,
           "batched_s": round(med["batched"], 4), "single_s": round(med["single"], 4),
           "batched_img_per_s": round(args.images / med["batched"], 1),
           "single_img_per_s": round(args.images / med["single"], 1),
           "speedup": round(med["single"] / med["batched"], 2), "same_labels": same}
    if args.json:
        print(json.dumps(row))
        return
    print(f"{args.model} {row['input']}, {args.images:,} PNG files, {threads} thread(s), median of {args.repeats}:")
    print(f"  batched (batch {args.batch_size}): {med['batched']:.3f} s  ({row['batched_img_per_s']:,.0f} img/s)")
    print(f"  one at a time:        {med['single']:.3f} s  ({row['single_img_per_s']:,.0f} img/s)")
    print(f"  batched / one at a time: {row['speedup']:.2f}x faster; same labels: {same}")


if __name__ == "__main__":
    main()
