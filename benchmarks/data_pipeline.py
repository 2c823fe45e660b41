"""Is the data pipeline ever the bottleneck? Augmented images/s against the training step's images/s.

Three rates, measured one after the other in this process on the same batch size:

1. cnnlab's batched path: ``BatchLoader`` over in-memory uint8 CIFAR-10 with
   ``parse_augment("crop=4,flip")`` (4-pixel zero padding + random crop + horizontal flip, He et al.
   2015) and normalisation with the training set's mean/std, a whole batch per call;
2. a per-image PIL baseline doing the same work the way torchvision's PIL transforms do
   (``Image.fromarray``, pad, crop, flip, to float, normalise, stack), one image at a time;
3. one training step (forward, backward, SGD) of ``resnet20`` if the zoo has it (else a small
   conv net defined here), in eager fp32 and in bf16 autocast + channels-last when the CPU has it.

Printed as ratios: ``pipeline / train step`` well above 1 means the pipeline is never the
bottleneck. Run on a quiet machine:

    .venv/bin/python benchmarks/data_pipeline.py                       # real CIFAR-10, batch 256
    .venv/bin/python benchmarks/data_pipeline.py --data synthetic --batches 2 --train-steps 2   # smoke
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

DEFAULT_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar-10-batches-py"


def load(spec: str, n_synthetic: int):
    from cnnlab.data import DataSplits, ImageDataset, load_data

    if spec == "synthetic":
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n_synthetic, 3, 32, 32), dtype=torch.uint8, generator=g)
        ds = ImageDataset(images, torch.arange(n_synthetic) % 10, [str(i) for i in range(10)])
        return DataSplits("synthetic", ds, ds.subset(torch.arange(min(10, n_synthetic))), source="random")
    return load_data(spec)


def rate(fn, items_per_call: int, calls: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return items_per_call * calls / (time.perf_counter() - t0)


def batched_rate(data, batch: int, batches: int, augment: str) -> float:
    from cnnlab.data import BatchLoader, parse_augment

    transform = parse_augment(augment, data.train.image_shape, stats=data)
    loader = BatchLoader(data.train, batch, data.mean, data.std, shuffle=True, drop_last=True, seed=0,
                         transform=transform)
    batches = min(batches, len(loader))
    state = {"it": iter(loader)}

    def step():
        try:
            return next(state["it"])
        except StopIteration:
            loader.set_epoch(loader.epoch + 1)
            state["it"] = iter(loader)
            return next(state["it"])

    return rate(step, batch, batches)


def pil_rate(data, batch: int, batches: int, padding: int = 4) -> float:
    """The per-image path: PIL pad + crop + flip, then to a normalised float tensor, stacked."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(0)
    hwc = data.train.images.permute(0, 2, 3, 1).numpy()
    mean = np.array(data.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.array(data.std, dtype=np.float32).reshape(3, 1, 1)
    n = len(hwc)
    state = {"pos": 0}

    def step():
        out = []
        for _ in range(batch):
            im = Image.fromarray(hwc[state["pos"] % n])
            state["pos"] += 1
            im = ImageOps.expand(im, border=padding, fill=0)
            x0, y0 = rng.integers(0, 2 * padding + 1, 2)
            im = im.crop((x0, y0, x0 + 32, y0 + 32))
            if rng.random() < 0.5:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            arr = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
            out.append(torch.from_numpy((arr - mean) / std))
        return torch.stack(out)

    return rate(step, batch, batches)


class SmallNet(nn.Module):
    """Fallback when the zoo has no resnet20: 3 conv-BN-ReLU stages, about resnet20's width."""

    def __init__(self, classes=10):
        super().__init__()
        layers, c = [], 3
        for width in (16, 32, 64):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def make_net(which: str = "auto"):
    if which == "small":
        return "small conv net", SmallNet()
    try:
        from cnnlab.models import create_model, list_models

        if "resnet20" in list_models("resnet20"):
            return "resnet20", create_model("resnet20", num_classes=10)
    except Exception:  # noqa: BLE001 - the zoo is optional here
        pass
    return "small conv net (fallback)", SmallNet()


def train_rate(net: nn.Module, batch: int, steps: int, bf16: bool) -> float:
    fmt = torch.channels_last if bf16 else torch.contiguous_format
    net = net.to(memory_format=fmt).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return rate(step, batch, steps, warmup=2)


def main(argv=None) -> dict:
    from cnnlab import runtime

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=f"cifar10:{DEFAULT_CIFAR}", help="data set spec, or 'synthetic' (random)")
    p.add_argument("--synthetic-size", type=int, default=2048)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--batches", type=int, default=40, help="batches timed for each data path")
    p.add_argument("--train-steps", type=int, default=10)
    p.add_argument("--augment", default="crop=4,flip")
    p.add_argument("--net", choices=("auto", "small"), default="auto",
                   help="auto: resnet20 from the zoo when registered, else the small conv net defined here")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)

    threads = runtime.configure()
    data = load(args.data, args.synthetic_size)
    name, net = make_net(args.net)
    results = {"data": data.name, "batch": args.batch, "threads": threads, "augment": args.augment, "net": name}
    results["batched_img_s"] = batched_rate(data, args.batch, args.batches, args.augment)
    results["pil_img_s"] = pil_rate(data, args.batch, max(1, args.batches // 4))
    results["train_fp32_img_s"] = train_rate(net, args.batch, args.train_steps, bf16=False)
    if runtime.bf16_supported(torch.device("cpu")):
        results["train_bf16_img_s"] = train_rate(net, args.batch, args.train_steps, bf16=True)
    fastest = max(v for k, v in results.items() if k.startswith("train_"))

    print(f"data pipeline vs training step: {data.name}, batch {args.batch}, {threads} threads, "
          f"augment {args.augment!r}, net {name}")
    rows = [("cnnlab batched (uint8 tensors)", results["batched_img_s"]), ("per-image PIL baseline", results["pil_img_s"]),
            ("train step fp32 eager", results["train_fp32_img_s"])]
    if "train_bf16_img_s" in results:
        rows.append(("train step bf16 + channels-last", results["train_bf16_img_s"]))
    for label, v in rows:
        print(f"  {label:<34} {v:>12,.0f} img/s")
    results["ratio_batched_over_pil"] = results["batched_img_s"] / results["pil_img_s"]
    results["ratio_batched_over_train"] = results["batched_img_s"] / fastest
    results["ratio_pil_over_train"] = results["pil_img_s"] / fastest
    print(f"  batched / PIL:                  {results['ratio_batched_over_pil']:.1f}x")
    print(f"  batched / fastest train step:   {results['ratio_batched_over_train']:.1f}x "
          f"({'never the bottleneck' if results['ratio_batched_over_train'] > 1 else 'THE BOTTLENECK'})")
    print(f"  PIL / fastest train step:       {results['ratio_pil_over_train']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
