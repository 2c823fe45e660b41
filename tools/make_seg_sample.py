"""Generate the built-in `seg-sample` from the real MNIST (run once; the result ships in the package).

    python tools/make_seg_sample.py ../shared/data/mnist src/cnnlab/data/builtin/seg-sample

2,000 training canvases from MNIST training digits and 400 test canvases from MNIST test digits
(64 x 64, 1-3 digits each, a class per pixel: 0 background, 1..10 the digits 0..9), made by
cnnlab.tasks.segment.sample.scatter_digits with fixed seeds, so the files are reproducible byte for
byte. Files are IDX (images and masks both N x 64 x 64 uint8), gzip level 9.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cnnlab.data.idx import read_idx, write_idx
from cnnlab.tasks.segment.sample import CLASSES, scatter_digits

COUNTS = {"train": 2000, "t10k": 400}
SEEDS = {"train": 20261130, "t10k": 20261131}


def main(src: str, dst: str) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    dst_dir.mkdir(parents=True, exist_ok=True)
    for split, n in COUNTS.items():
        digits = read_idx(src_dir / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(src_dir / f"{split}-labels-idx1-ubyte.gz")
        images, masks = scatter_digits(digits, labels, n, SEEDS[split])
        write_idx(dst_dir / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(dst_dir / f"{split}-masks-idx3-ubyte.gz", masks)
        share = np.bincount(masks.reshape(-1), minlength=len(CLASSES)) / masks.size
        print(
            f"{split}: {n} canvases; pixel share per class: "
            + ", ".join(f"{c} {100 * s:.1f}%" for c, s in zip(CLASSES, share))
        )


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["../shared/data/mnist", "src/cnnlab/data/builtin/seg-sample"]))
