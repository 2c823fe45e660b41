"""How long does ``cnnlab.summary`` take, against one plain forward pass of the same model?

For each model, in this process, one after the other:

1. ``forward``: one eval-mode, no-grad forward pass of the real model (random weights) on a random
   batch (median of ``--repeats`` after one warm-up), the baseline every analyzer in the anchors
   costs about 1x of (analyzer-anchors.md section 2);
2. ``summary(name)``: build the model on the meta device and count it (what ``cnnlab summary NAME``
   does);
3. ``summary(model)``: count the already-built real model (meta stand-ins for its weights).

Printed as ratios analyzer / forward (below 1 means cheaper than running the network once). The
first use of the meta device in a process loads PyTorch's Python meta kernels (a few seconds,
once); a warm-up analysis of LeNet-5 takes that out of every row. Run on a quiet machine:

    .venv/bin/python benchmarks/analyzer_speed.py
    .venv/bin/python benchmarks/analyzer_speed.py --models resnet18 --input 64 --repeats 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

DEFAULT_MODELS = ["alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "mobilenet_v2", "efficientnet_b0",
                  "densenet121", "vit_b_16", "efficientnet_b7", "vit_l_16"]


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    p.add_argument("--input", type=int, default=None, help="input side (default: each card's)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: available cores)")
    p.add_argument("--json", default=None, help="also write the rows to this file")
    args = p.parse_args(argv)

    import cnnlab
    from cnnlab.analysis import summary
    from cnnlab.runtime import configure

    configure(args.threads)
    summary("lenet5")  # loads the meta kernels once
    known = set(cnnlab.list_models())
    rows = []
    print(f"{'model':<18} {'input':>11} {'forward':>10} {'summary(name)':>14} {'ratio':>7} "
          f"{'summary(model)':>15} {'ratio':>7} {'GMACs':>9}")
    for name in args.models:
        if name not in known:
            print(f"{name:<18} not registered, left out")
            continue
        model = cnnlab.create_model(name).eval()
        card = cnnlab.model_card(name)
        size = (card.input_size[0], args.input, args.input) if args.input else tuple(card.input_size)
        x = torch.randn(args.batch, *size)
        with torch.no_grad():
            model(x)
            t_fwd = timed(lambda: model(x), args.repeats)
        t_name = timed(lambda: summary(name, input_size=size, batch=args.batch), args.repeats)
        t_model = timed(lambda: summary(model, input_size=size, batch=args.batch), args.repeats)
        macs = summary(name, input_size=size, batch=args.batch).macs
        row = {"model": name, "input": "x".join(map(str, size)), "batch": args.batch, "forward_s": t_fwd,
               "summary_name_s": t_name, "summary_model_s": t_model, "ratio_name": t_name / t_fwd,
               "ratio_model": t_model / t_fwd, "gmacs": macs / 1e9, "threads": torch.get_num_threads()}
        rows.append(row)
        print(f"{name:<18} {row['input']:>11} {t_fwd * 1e3:8.1f}ms {t_name * 1e3:12.1f}ms {row['ratio_name']:6.2f}x "
              f"{t_model * 1e3:13.1f}ms {row['ratio_model']:6.2f}x {row['gmacs']:9.3f}", flush=True)
        del model
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
