"""Training rates of the experiments' networks, to check the quick-budget estimates (cnnlab.experiments.estimate).

For every distinct (network, options, batch size) the quick budgets train, ``cnnlab.train`` runs on
synthetic 3x32x32 data for two short epochs; the second epoch's images/s (no warm-up in it) gives
the effective GFLOP/s (6 x multiply-adds per training image) next to the images/s the estimate assumes,
and the expected minutes of each experiment with the measured rates instead. Run it on a quiet
machine: the figures are meaningless when other processes share the cores.

    .venv/bin/python benchmarks/experiment_rates.py                  # all networks (a few minutes)
    .venv/bin/python benchmarks/experiment_rates.py --tiny           # smoke run: 2 networks, few steps
    .venv/bin/python benchmarks/experiment_rates.py --out rates.json
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch


def synthetic(n: int, classes: int = 10):
    from cnnlab.data import DataSplits, ImageDataset

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % classes
    names = [str(k) for k in range(classes)]
    val = ImageDataset(images[:64], labels[:64], names)
    return DataSplits("synthetic", ImageDataset(images, labels, names), val)


def networks(names=None) -> dict[tuple, dict]:
    """(model, options, batch, frozen) -> the quick-budget training settings of its first run."""
    from cnnlab.experiments import EXPERIMENTS

    found = {}
    for exp in EXPERIMENTS.values():
        if names and exp.name not in names:
            continue
        for run in exp.plan("quick"):
            t = run.train
            key = (t["model"], json.dumps(t["model_args"], sort_keys=True), t["batch_size"], t["freeze"])
            found.setdefault(key, t)
    return found


def measure(settings: dict, steps: int) -> float:
    from cnnlab.train import train

    batch = settings["batch_size"]
    with tempfile.TemporaryDirectory() as out:
        overrides = {k: v for k, v in settings.items() if k not in ("data", "out", "progress", "init_weights")}
        overrides.update(steps=0, epochs=2, eval_every=0, out=out, overwrite=True, progress=False, freeze="none")
        result = train(dataset=synthetic(batch * steps), **overrides)
    return result.metrics[-1]["images_per_s"]


def main(argv=None) -> int:
    from cnnlab.experiments import EXPERIMENTS
    from cnnlab.experiments.estimate import estimate_run, model_cost, train_seconds_per_image

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20, help="steps per epoch")
    p.add_argument("--tiny", action="store_true", help="smoke run: two networks, 3 steps")
    p.add_argument("--out", help="write the measurements as JSON")
    args = p.parse_args(argv)
    nets = networks(["activation", "pooling"] if args.tiny else None)
    steps = 3 if args.tiny else args.steps
    rows = []
    print(f"{'network':<36} {'batch':>5} {'img/s':>8} {'GFLOP/s':>8} {'assumed img/s':>13}")
    for (model, options, batch, _), settings in nets.items():
        cost = model_cost(model, json.loads(options))
        ips = measure(settings, steps)
        rows.append(
            {
                "model": model,
                "options": json.loads(options),
                "batch": batch,
                "images_per_s": ips,
                "gflops": 6 * cost.macs * ips / 1e9,
                "assumed_images_per_s": 1 / train_seconds_per_image(cost),
            }
        )
        print(
            f"{model + ' ' + options:<36.36} {batch:>5} {ips:>8,.0f} {rows[-1]['gflops']:>8.0f} "
            f"{rows[-1]['assumed_images_per_s']:>13,.0f}"
        )
    if not args.tiny:
        print("\nexpected quick-budget minutes (estimate | with the measured rates):")
        measured = {(r["model"], json.dumps(r["options"], sort_keys=True)): r["images_per_s"] for r in rows}
        for exp in EXPERIMENTS.values():
            est = sum(estimate_run(exp, r).seconds for r in exp.plan("quick")) / 60
            real = (
                sum(
                    estimate_run(exp, r).train_images
                    / measured[(r.train["model"], json.dumps(r.train["model_args"], sort_keys=True))]
                    for r in exp.plan("quick")
                )
                / 60
            )
            print(f"  {exp.name:<13} {est:5.1f} | {real:5.1f} (training only)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
