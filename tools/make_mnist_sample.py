"""Cut the built-in `mnist-sample` from the real MNIST (run once; the result ships in the package).

    python tools/make_mnist_sample.py ../shared/data/mnist src/cnnlab/data/builtin/mnist-sample

Training digits come from MNIST's training set, test digits from its test set, so the two
never overlap; each part is class-balanced (1,000 and 200 digits per class) and chosen by a
seeded permutation, so the cut is reproducible. Files are IDX, gzip level 9, read by the same
reader as the full data set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from cnnlab.data.idx import read_idx, write_idx  # noqa: E402

PER_CLASS = {"train": 1000, "t10k": 200}
SEED = 20261122


def cut(images: np.ndarray, labels: np.ndarray, per_class: int, rng: np.random.Generator):
    order = rng.permutation(len(labels))
    chosen = np.concatenate([order[labels[order] == c][:per_class] for c in range(10)])
    chosen = rng.permutation(chosen)  # interleave the classes
    return images[chosen], labels[chosen], chosen


def main(src: str, dst: str) -> None:
    src_dir, dst_dir = Path(src), Path(dst)
    dst_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for split, n in PER_CLASS.items():
        images = read_idx(src_dir / f"{split}-images-idx3-ubyte.gz")
        labels = read_idx(src_dir / f"{split}-labels-idx1-ubyte.gz")
        x, y, idx = cut(images, labels, n, rng)
        write_idx(dst_dir / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(dst_dir / f"{split}-labels-idx1-ubyte.gz", y)
        np.savetxt(dst_dir / f"{split}-source-indices.txt", idx, fmt="%d")
        print(f"{split}: {len(y)} digits, per class {np.bincount(y).tolist()}")


if __name__ == "__main__":
    main(*(sys.argv[1:] or ["../shared/data/mnist", "src/cnnlab/data/builtin/mnist-sample"]))
