"""Training-step throughput: cnnlab's training step against a plain eager fp32 PyTorch loop.

For each network (lenet5 1x28x28, resnet20 3x32x32, resnet18 with the CIFAR stem 3x32x32,
mobilenet_v2 3x224x224) and the same batch, in ONE process, interleaved A B A B ... after a
warm-up, median of the rounds:

- ``plain``: eager fp32, NCHW, ``torch.optim.SGD(momentum=0.9)`` on all parameters, float input
  already normalised - the loop everyone writes first;
- ``cnnlab``: what ``cnnlab.train`` runs per step - a ``BatchLoader`` batch (uint8 gather +
  batched normalisation into channels-last), bf16 autocast where the CPU has AMX/AVX512-BF16,
  forward, loss, backward, cnnlab's optimizer (no decay on norms/biases) and per-step schedule,
  and the per-step statistics (loss, top-1) the progress bar shows;
- ``plain-bf16-cl``: the hand-written loop with bf16 autocast + channels-last, so that cnnlab's
  own overhead shows (target T5 of the research note: cnnlab >= 0.9x of it on LeNet-5);
- ``cnnlab+compile``: the same with ``torch.compile``, only for the networks where
  ``--compile auto`` would compile (dense, >= 300 MMAC/image: the CIFAR ResNet-18).

The bf16 and fp32 matrix-multiply peaks (``torch.mm`` of 4096x4096) are measured in the same run,
and the bf16 peak again at the start of every round: "% of the rounds' bf16 peaks" is the median
over rounds of a loop's GFLOP/s over the peak measured just before it, which holds when the shared
machine's speed drifts between rounds (it does, by up to 1.7x within minutes);
effective GFLOP/s = conv+linear multiply-adds x 2 (FLOPs) x 3 (forward + two backward GEMMs) x
images/s. Targets (issue 7): >= 3.5x the plain loop on the ResNets and >= 40% of the bf16 peak.

The CIFAR-stem ResNet-18 is cnnlab's ``resnet18`` with its 7x7/2 stem and max pool replaced by
a 3x3/1 convolution (the common CIFAR ResNet-18, 0.56 GMAC at 32x32).

    .venv/bin/python benchmarks/train_throughput.py                      # quiet machine, all cores
    .venv/bin/python benchmarks/train_throughput.py --tiny               # smoke run (seconds)
    .venv/bin/python benchmarks/train_throughput.py --models resnet18_cifar --threads 1 --out r.jsonl
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (create_model name, input shape, default batch)
MODELS = {
    "lenet5": ("lenet5", (1, 28, 28), 256),
    "resnet20": ("resnet20", (3, 32, 32), 256),
    "resnet18_cifar": ("resnet18", (3, 32, 32), 256),
    "mobilenet_v2": ("mobilenet_v2", (3, 224, 224), 32),
}


def build(name: str, num_classes: int = 10) -> nn.Module:
    from cnnlab.models import create_model

    registry_name, shape, _ = MODELS[name]
    model = create_model(registry_name, num_classes=num_classes, in_chans=shape[0])
    if name == "resnet18_cifar":  # CIFAR stem: 3x3/1 conv, no max pool
        model.conv1 = nn.Conv2d(shape[0], model.conv1.out_channels, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    return model


def gemm_peak(dtype: torch.dtype, n: int, reps: int) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def synthetic_data(shape, n: int):
    from cnnlab.data import DataSplits, ImageDataset

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    ds = ImageDataset(images, labels, [str(i) for i in range(10)])
    return DataSplits("synthetic", ds, ds.subset(torch.arange(8)), source="random")


def calibrate_bn(model: nn.Module, x: torch.Tensor) -> None:
    """Run a few batches in train mode so BN statistics are real (no float32 denormal trap)."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(x)


class PlainLoop:
    """The hand-written loop; ``fast`` adds bf16 autocast + channels-last (the ceiling for cnnlab's overhead)."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, fast: bool = False):
        import contextlib

        self.precision = "bf16" if fast else "fp32"
        if fast:
            model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        self.model, self.x, self.y = model, x, y
        self.ctx = torch.autocast("cpu", dtype=torch.bfloat16) if fast else contextlib.nullcontext()
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        with self.ctx:
            logits = self.model(self.x)
        loss = F.cross_entropy(logits.float(), self.y)
        loss.backward()
        self.opt.step()
        float(loss.detach())


class CnnlabLoop:
    """The per-step work of cnnlab.train.trainer, built from the same library pieces."""

    def __init__(self, model: nn.Module, data, batch: int, compile_model: bool):
        from cnnlab import runtime
        from cnnlab.data import BatchLoader
        from cnnlab.train import TrainConfig
        from cnnlab.train.metrics import topk_correct
        from cnnlab.train.optim import build_optimizer, build_scheduler
        from cnnlab.train.trainer import autocast_for

        device = torch.device("cpu")
        self.precision = "bf16" if runtime.bf16_supported(device) else "fp32"
        self.cfg = TrainConfig(lr=0.01, epochs=1000)
        self.model = model.to(memory_format=torch.channels_last)
        if compile_model:
            self.model.compile()
        self.loader = BatchLoader(data.train, batch, data.mean, data.std, shuffle=True, drop_last=True, seed=0,
                                  channels_last=True)
        self.opt = build_optimizer(self.model, self.cfg)
        self.sched = build_scheduler(self.opt, self.cfg, len(self.loader))
        self.autocast = autocast_for(device, self.precision)
        self.topk = topk_correct
        self.it = iter(())
        self.epoch = 0

    def batch(self):
        try:
            return next(self.it)
        except StopIteration:
            self.epoch += 1
            self.loader.set_epoch(self.epoch)
            self.it = iter(self.loader)
            return next(self.it)

    def step(self) -> None:
        x, y = self.batch()
        with self.autocast:
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), y)
        float(loss.detach())
        self.topk(logits.detach(), y, (1,))
        (loss / 1).backward()
        self.opt.step()
        self.sched.step()
        self.opt.zero_grad(set_to_none=True)


def timed(fn, steps: int) -> float:
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(steps):
        fn()
    return time.perf_counter() - t0, time.process_time() - c0


def bench_model(name: str, batch: int, rounds: int, steps: int, compile_mode: str, shape_override=None,
                peak_fn=None) -> list[dict]:
    """``peak_fn()``, when given, measures the bf16 GEMM peak once per round, between the loops, so
    that each round's share of the peak is taken against the peak of that moment (a shared machine's
    speed drifts by up to 1.7x within minutes)."""
    from cnnlab.train import TrainConfig
    from cnnlab.train.trainer import model_macs, should_compile

    _, shape, _ = MODELS[name]
    shape = shape_override or shape
    torch.manual_seed(0)
    base = build(name)
    macs, _ = model_macs(base, shape)
    data = synthetic_data(shape, batch * 4)
    x = (data.train.images[:batch].float() / 255 - 0.5) / 0.25
    y = data.train.labels[:batch]
    calibrate_bn(base, x)

    want_compile = {"off": False, "on": True,
                    "auto": should_compile(TrainConfig(compile="auto"), base, shape, torch.device("cpu"))[0]}[compile_mode]
    from cnnlab import runtime

    loops = {"plain": PlainLoop(copy.deepcopy(base), x, y),
             "cnnlab": CnnlabLoop(copy.deepcopy(base), data, batch, False)}
    if runtime.bf16_supported(torch.device("cpu")):
        loops["plain-bf16-cl"] = PlainLoop(copy.deepcopy(base), x, y, fast=True)
    if want_compile:
        loops["cnnlab+compile"] = CnnlabLoop(copy.deepcopy(base), data, batch, True)
    first = {}
    for key, loop in loops.items():  # warm-up (and compile)
        t0 = time.perf_counter()
        loop.step()
        first[key] = time.perf_counter() - t0
        loop.step()
    walls = {k: [] for k in loops}
    cpus = {k: [] for k in loops}
    round_peaks = []
    for _ in range(rounds):
        if peak_fn is not None:
            round_peaks.append(peak_fn())
        for key, loop in loops.items():
            w, c = timed(loop.step, steps)
            walls[key].append(w / steps)
            cpus[key].append(c / steps)
    plain = statistics.median(walls["plain"])
    rows = []
    for key in loops:
        sec = statistics.median(walls[key])
        ips = batch / sec
        rows.append({"model": name, "config": key, "batch": batch, "input": list(shape),
                     "precision": loops[key].precision,
                     "images_per_s": ips, "x_vs_plain": plain / sec,
                     "gflops": macs * 6 * ips / 1e9, "macs_per_image": macs,
                     "cpu_util": statistics.median(cpus[key]) / sec / torch.get_num_threads(),
                     "first_step_s": first[key],
                     # per round: this loop's GFLOP/s over the bf16 peak measured just before it
                     "pct_of_round_bf16_peak": statistics.median(
                         100 * macs * 6 * batch / w / 1e9 / p for w, p in zip(walls[key], round_peaks)
                     ) if round_peaks else None,
                     "round_bf16_peaks": round_peaks})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: the available cores)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=5, help="steps per timed round")
    p.add_argument("--batch", type=int, default=0, help="batch size (0: the per-model default)")
    p.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="add a cnnlab+compile row: auto = where cnnlab's --compile auto would compile")
    p.add_argument("--gemm", type=int, default=4096, help="matrix size of the GEMM peak measurement")
    p.add_argument("--tiny", action="store_true", help="smoke run: small batches, 1 round, small GEMM, no compile")
    p.add_argument("--out", help="append JSON lines here")
    args = p.parse_args(argv)

    from cnnlab import runtime

    threads = runtime.configure(args.threads)
    if args.tiny:
        args.rounds, args.steps, args.gemm, args.compile = 1, 1, 512, "off"
    peaks = {"fp32": gemm_peak(torch.float32, args.gemm, 3 if args.tiny else 7)}
    if runtime.bf16_supported(torch.device("cpu")):
        peaks["bf16"] = gemm_peak(torch.bfloat16, args.gemm, 3 if args.tiny else 7)
    print(f"threads {threads}; torch.mm {args.gemm}^2 peaks: "
          + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items()))
    rows = []
    for name in args.models.split(","):
        name = name.strip()
        if name not in MODELS:
            raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
        batch = args.batch or (8 if args.tiny else MODELS[name][2])
        shape = (3, 64, 64) if (args.tiny and name == "mobilenet_v2") else None
        peak_fn = functools.partial(gemm_peak, torch.bfloat16, args.gemm, 3) if "bf16" in peaks else None
        for row in bench_model(name, batch, args.rounds, args.steps, args.compile, shape, peak_fn):
            row.update(threads=threads, peak_fp32=peaks["fp32"], peak_bf16=peaks.get("bf16"))
            row["pct_of_peak_same_dtype"] = 100 * row["gflops"] / peaks.get(row["precision"], peaks["fp32"])
            row["pct_of_bf16_peak"] = 100 * row["gflops"] / peaks["bf16"] if "bf16" in peaks else None
            rows.append(row)
            print(f"{row['model']:<15} {row['config']:<15} batch {batch:>4}  {row['images_per_s']:>9,.1f} img/s  "
                  f"{row['x_vs_plain']:>5.2f}x plain  {row['gflops']:>7,.1f} GFLOP/s  "
                  f"{row['pct_of_peak_same_dtype']:>5.1f}% of {row['precision']} peak"
                  + (f"  {row['pct_of_bf16_peak']:>5.1f}% of bf16 peak"
                     if row["pct_of_bf16_peak"] is not None and row["precision"] != "bf16" else "")
                  + (f"  {row['pct_of_round_bf16_peak']:>5.1f}% of the rounds' bf16 peaks"
                     if row["pct_of_round_bf16_peak"] is not None else "")
                  + f"  cpu util {row['cpu_util']:.2f}  first step {row['first_step_s']:.1f}s", flush=True)
    if args.out:
        with open(args.out, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
