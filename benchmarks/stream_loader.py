"""Is the streaming loader the bottleneck? Decoded + augmented images/s per worker vs ResNet-18's step.

Measured one after the other in this process, on an image folder of JPEG photos (``--folder``, or
a synthetic one written here: smooth colour fields with noise, 500 x 375 like a typical ImageNet
photo, saved at JPEG quality 90):

1. the loader's rate per worker: ``StreamLoader`` with 0 workers (batches made in this process on
   one thread, as one worker makes them) over ``--data-cache none`` (decode every file: JPEG decode
   at reduced scale, shorter side to 256, centre crop 256) and ``--data-cache disk`` (the decoded
   256-pixel images memory-mapped), each augmented with ``rrc`` to 224 px + flip (the ImageNet
   recipe's augmentation) and normalised;
2. the loader with ``--workers`` worker processes (default 2), the way the trainer runs it;
3. one ResNet-18 training step at 224 px (forward, backward, SGD; bf16 autocast + channels-last
   when the CPU has bf16, else fp32) on the cores the workers leave.

``loader / step`` above 1 means the loader is not the bottleneck. Run on a quiet machine:

    .venv/bin/python benchmarks/stream_loader.py                    # 512 synthetic photos, batch 32
    .venv/bin/python benchmarks/stream_loader.py --folder ~/imagenet/train --images 2048
    .venv/bin/python benchmarks/stream_loader.py --images 64 --batches 2 --steps 1   # smoke test
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def synthetic_folder(root: Path, n: int, classes: int = 4) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:375, 0:500].astype(np.float32)
    for i in range(n):
        d = root / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        a, b, c = rng.uniform(0.005, 0.03, 3)
        base = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * (xx + yy))], -1)
        img = (127 + 100 * base + rng.normal(0, 12, base.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(d / f"{i:05d}.jpg", quality=90)
    return root


def loader_rate(data, batch: int, batches: int, workers: int) -> float:
    from cnnlab.data import parse_augment
    from cnnlab.data.stream_loader import StreamLoader

    aug = parse_augment("rrc=0.08,flip", data.train.image_shape, stats=data)
    loader = StreamLoader(
        data.train, batch, data.mean, data.std, shuffle=True, drop_last=True, seed=0, transform=aug, workers=workers
    )
    batches = min(batches, len(loader))
    it = loader.iter_from(0)
    next(it)  # worker start-up and the first batch are not part of the rate
    t0 = time.perf_counter()
    for _ in range(batches - 1):
        next(it)
    return batch * (batches - 1) / (time.perf_counter() - t0)


def step_rate(batch: int, steps: int, threads: int) -> tuple[float, str]:
    from cnnlab import runtime
    from cnnlab.models import create_model

    runtime.configure(threads)
    bf16 = runtime.bf16_supported(torch.device("cpu"))
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    model = create_model("resnet18", num_classes=1000).to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 224, 224).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0), "bf16 channels-last" if bf16 else "fp32"


def measure(args, folder: Path, cache: Path) -> dict:
    from cnnlab import runtime
    from cnnlab.data import load_data

    runtime.configure(1)  # the per-worker rates: one thread, as a DataLoader worker runs
    out = {"cores": runtime.available_cores(), "batch": args.batch, "workers": args.workers}
    for mode in ("none", "disk"):
        data = load_data(
            f"imagefolder:{folder}", image_size=256, data_cache=mode, cache_dir=str(cache), val_split=0, progress=False
        )
        out[f"{mode}_per_worker"] = loader_rate(data, args.batch, args.batches, 0)
        out[f"{mode}_{args.workers}_workers"] = loader_rate(data, args.batch, args.batches, args.workers)
    threads = max(1, out["cores"] - args.workers)
    out["step_threads"] = threads
    out["step"], out["step_precision"] = step_rate(args.batch, args.steps, threads)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, help="an image folder (PATH/CLASS/*.jpg); default: synthetic photos")
    p.add_argument("--images", type=int, default=512, help="synthetic photos to write (default 512)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=8, help="batches timed per loader rate")
    p.add_argument("--steps", type=int, default=3, help="ResNet-18 steps timed")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or synthetic_folder(Path(tmp) / "photos", args.images)
        r = measure(args, folder, Path(tmp) / "cache")
    print(f"{r['cores']} cores; batch {r['batch']}; 224-px rrc + flip from 256-px images")
    for mode in ("none", "disk"):
        what = "decode JPEG + augment" if mode == "none" else "memory-mapped + augment"
        print(
            f"  loader --data-cache {mode:<4} ({what}): {r[f'{mode}_per_worker']:8.1f} img/s per worker, "
            f"{r[f'{mode}_{args.workers}_workers']:8.1f} img/s with {args.workers} workers"
        )
    print(f"  ResNet-18 training step ({r['step_precision']}, {r['step_threads']} threads): {r['step']:8.1f} img/s")
    for mode in ("none", "disk"):
        ratio = r[f"{mode}_{args.workers}_workers"] / r["step"]
        verdict = "not the bottleneck" if ratio > 1 else "THE BOTTLENECK"
        print(f"  {mode}: loader / step = {ratio:.1f}x -> the loader with {args.workers} workers is {verdict}")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
