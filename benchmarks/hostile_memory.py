"""Peak memory of cnnlab commands on a hostile image (a 12000 x 12000 PNG of ~450 KB).

Runs each command in a subprocess under an address-space cap and reports the child's peak resident
set (``ru_maxrss``) and exit code. Compare two source trees with ``--src``:

    python benchmarks/hostile_memory.py --src /path/to/old/src --src src

Figures depend on the machine; measure on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def make_inputs(folder: Path) -> dict[str, Path]:
    from PIL import Image

    big = folder / "big12k.png"
    if not big.exists():
        Image.new("RGB", (12000, 12000), (120, 30, 200)).save(big)
    tree = folder / "tree"
    for cls in ("a", "b"):
        (tree / cls).mkdir(parents=True, exist_ok=True)
        if not (tree / cls / "big.png").exists():
            if cls == "a":
                os.link(big, tree / cls / "big.png")
            else:
                Image.new("RGB", (64, 64)).save(tree / cls / "s.png")
    model = folder / "lenet-rgb.safetensors"
    if not model.exists():
        from cnnlab.models import create_model
        from cnnlab.runs import save_model

        save_model(model, create_model("lenet5", num_classes=2, in_chans=3),
                   {"model": "lenet5", "model_args": {"in_chans": 3}, "classes": ["a", "b"],
                    "input_size": [3, 28, 28], "mean": [0.5] * 3, "std": [0.25] * 3, "background": "light"})
    return {"png": big, "tree": tree, "model": model}


def run(src: str, args: list[str], cap_gib: float, cwd: Path) -> tuple[int, float, str]:
    cap = int(cap_gib * 2**30)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "from cnnlab.cli import main; sys.exit(main(sys.argv[1:]))" % (cap, cap))
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cwd, capture_output=True, text=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    last = (p.stderr.strip().splitlines() or [""])[-1][:110]
    return p.returncode, (peak if peak > before else float("nan")) / 2**20, last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", action="append", default=None, help="source tree(s) to put first on PYTHONPATH")
    ap.add_argument("--cap-gib", type=float, default=6.0, help="address-space cap of each run (GiB)")
    opts = ap.parse_args()
    srcs = [str(Path(s).resolve()) for s in (opts.src or [Path(__file__).resolve().parents[1] / "src"])]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = make_inputs(tmp)
        commands = {
            "filter": ["filter", "sharpen", str(inputs["png"]), "-o", str(tmp / "out.png")],
            "filter --max-size 1000": ["filter", "sharpen", str(inputs["png"]), "-o", str(tmp / "o2.png"),
                                       "--max-size", "1000"],
            "data imagefolder": ["data", f"imagefolder:{inputs['tree']}", "--no-cache", "--val-split", "0.5"],
            "predict": ["predict", str(inputs["model"]), str(inputs["png"])],
            "--max-pixels 2e8 predict": ["--max-pixels", "200000000", "predict", str(inputs["model"]),
                                         str(inputs["png"])],
            # the limit raised: what decoding the 144 MP picture costs with bounded processing
            "--max-pixels 2e8 filter": ["--max-pixels", "200000000", "filter", "sharpen", str(inputs["png"]),
                                        "-o", str(tmp / "o3.png")],
            "--max-pixels 2e8 data": ["--max-pixels", "200000000", "data", f"imagefolder:{inputs['tree']}",
                                      "--no-cache", "--val-split", "0.5"],
        }
        for src in srcs:
            for name, args in commands.items():
                # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: run each in a fresh parent
                code = ("import sys; sys.path.insert(0, %r); from hostile_memory import run; "
                        "rc, gib, last = run(%r, %r, %r, __import__('pathlib').Path(%r)); "
                        "print(f'{rc}|{gib:.2f}|{last}')" % (str(Path(__file__).parent), src, args, opts.cap_gib,
                                                             str(tmp)))
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
                rc, gib, last = (out.split("|", 2) + ["", "", ""])[:3]
                print(f"{src:<40} {name:<24} exit {rc:>2}  peak RSS {gib:>6} GiB  {last}")


if __name__ == "__main__":
    main()
