"""Peak memory and time of `anomaly fit` on 200 normal 256 x 256 images (issue 18's budget).

    PYTHONPATH=src python benchmarks/anomaly_memory.py padim [--images 200] [--size 256] [--coreset 0.1]

Writes a generated `weave` category with ``--images`` train/good images (plus a small test split)
into a temporary folder, fits in a fresh process (so ru_maxrss is this fit's peak), and prints the
fit time, the peak resident memory and the evaluation's image/pixel AUROC on the test split.
Timings depend on the machine's load: quote them with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def make_set(root: Path, n_train: int, size: int) -> Path:
    from PIL import Image

    from cnnlab.tasks.anomaly import textures

    rng = np.random.default_rng(0)
    cat = root / "weave"
    for part in ("train/good", "test/good", "test/hole", "ground_truth/hole"):
        (cat / part).mkdir(parents=True)
    for i in range(n_train):
        textures._to_png(textures.weave(rng, size), cat / "train" / "good" / f"{i:03d}.png")
    for i in range(6):
        textures._to_png(textures.weave(rng, size), cat / "test" / "good" / f"{i:03d}.png")
        img, mask = textures.draw_defect(textures.weave(rng, size), "hole", rng)
        textures._to_png(img, cat / "test" / "hole" / f"{i:03d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(cat / "ground_truth" / "hole" / f"{i:03d}_mask.png")
    return cat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("method", choices=["padim", "patchcore"])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--coreset", type=float, default=0.1)
    ap.add_argument("--backbone", default="resnet18")
    args = ap.parse_args()
    import torch

    from cnnlab.tasks.anomaly import evaluate, fit
    from cnnlab.tasks.anomaly.detector import peak_rss_mib

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    with tempfile.TemporaryDirectory() as tmp:
        cat = make_set(Path(tmp), args.images, args.size)
        before = peak_rss_mib()
        t0 = time.perf_counter()
        opts = {"coreset": args.coreset} if args.method == "patchcore" else {}
        det = fit(f"mvtec:{cat}", args.method, args.backbone, out=Path(tmp) / "det", image_size=args.size,
                  progress=False, **opts)
        seconds = time.perf_counter() - t0
        peak = peak_rss_mib()
        res = evaluate(det, f"mvtec:{cat}", progress=False)
    print(f"{args.method} {args.backbone}: {det.meta['train_images']} fit images at {args.size} px, "
          f"fit {seconds:.1f} s, peak RSS {peak:.0f} MiB (before fit {before:.0f} MiB), "
          f"test image AUROC {res['image_auroc']:.3f}, pixel AUROC {res['pixel_auroc']:.3f}, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
