"""Exact resume: SIGKILL a training subprocess at random moments, resume it, and compare the final
weights with an uninterrupted run's, bitwise (CPU, fp32, one thread, deterministic mode).

The run exercises every piece of state a checkpoint must carry: SGD momentum, the one-cycle
schedule, EMA weights, dropout (the global torch RNG), batched augmentation and mixup (seeded by
position), gradient accumulation, and mid-epoch positions (a checkpoint every 3 steps).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import torch
from train_support import PYTHON, child_env

from cnnlab.runs import read_model_file
from cnnlab.train.checkpoint import CHECKPOINT_DIR, LAST, load_checkpoint

ARGS = [
    "lenet5",
    "--epochs",
    "6",
    "--batch-size",
    "16",
    "--accumulate",
    "2",
    "--augment",
    "crop=2,flip",
    "--mixup",
    "0.2",
    "--ema",
    "0.9",
    "-m",
    "drop_rate=0.3",
    "--precision",
    "fp32",
    "--threads",
    "1",
    "--deterministic",
    "--checkpoint-every",
    "3",
    "--no-progress",
    "--seed",
    "3",
]


def _cmd(data: Path, out: Path, resume: bool) -> list[str]:
    if resume:
        return [PYTHON, "-m", "cnnlab", "train", "--resume", str(out), "--no-progress"]
    return [PYTHON, "-m", "cnnlab", "train", *ARGS, "--data", f"mnist:{data}", "--out", str(out), "--overwrite"]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_moments_then_resume_is_bitwise_exact(tiny_mnist, tmp_path):
    rng = random.Random(1234)
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    threads = torch.get_num_threads()
    try:  # the uninterrupted reference runs in this process, with the same settings as the CLI's
        from cnnlab.cli import build_parser
        from cnnlab.cli.train import settings_from_args
        from cnnlab.train import train

        args = build_parser().parse_args(_cmd(tiny_mnist, ref_dir, False)[3:])
        train(**settings_from_args(args))
    finally:
        torch.set_num_threads(threads)

    last = run_dir / CHECKPOINT_DIR / LAST
    kills = 0
    for _attempt in range(12):
        resume = last.exists() or (run_dir / CHECKPOINT_DIR / "previous.safetensors").exists()
        before = _mtime(last)
        proc = subprocess.Popen(
            _cmd(tiny_mnist, run_dir, resume),
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kills < 2:
            # kill a random moment after this process wrote a new checkpoint (so every round makes progress)
            deadline = time.monotonic() + 60
            while proc.poll() is None and _mtime(last) == before and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.25))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        break
    assert kills >= 1, "the run finished before any kill: make it longer"

    a, _ = read_model_file(ref_dir / "model.safetensors")
    b, _ = read_model_file(run_dir / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # the metrics file of the resumed run lists every epoch exactly once, with the same numbers
    ra = [json.loads(x) for x in (ref_dir / "metrics.jsonl").read_text().splitlines()]
    rb = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rb] == list(range(1, 7))
    assert [(r["train_loss"], r["val_top1"], r["lr"]) for r in ra] == [
        (r["train_loss"], r["val_top1"], r["lr"]) for r in rb
    ]
    ckpt = load_checkpoint(run_dir)
    assert ckpt["position"]["epoch"] == 7 and ckpt["position"]["step"] == ra[-1]["step"]
