"""A hypothesis-driven CLI fuzz: hostile files and values through every reading command.

Every run must exit 0 or 2 (never 1, never a traceback), within a 4 GiB address space, in bounded
time, and touch nothing outside its working folder (the hostile inputs beside it stay as they were).
All runs go to one worker process (fuzz_worker.py), so an example costs milliseconds, not an import.
CI runs it derandomized (tests/conftest.py); ``-m slow`` runs a longer soak.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save_file

from helpers.hostile import CAP_BYTES, SRC, png_stream, safetensors_bytes, tree_snapshot

HERE = Path(__file__).resolve().parent
VALUES = [
    "",
    "0",
    "-1",
    "1",
    "3x",
    "2x2",
    "1x1x1x1",
    "224",
    "100000",
    "nan",
    "inf",
    "1e309",
    "abc",
    "\x1b[2J",
    "a\nb",
    "x" * 300,
    "lenet5",
    "resnet18",
    "nosuchnet",
    "0.5",
    "[1, 2]",
]


def build_inputs(root: Path) -> dict[str, str]:
    """Hostile files in ``root`` (outside the worker's folder); names -> paths."""
    root.mkdir()
    f = {}

    def put(name, data: bytes):
        (root / name).write_bytes(data)
        f[name] = str(root / name)

    put("text.pth", b"hello\n")
    put("page.pth", b"<html>404</html>")
    put("noise.pth", np.random.default_rng(0).integers(0, 256, 999, dtype=np.uint8).tobytes())
    put(
        "hdr.safetensors",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 4]}}, b"\0" * 4),
    )
    (root / "dir.pth").mkdir()
    f["dir.pth"] = str(root / "dir.pth")
    os.mkfifo(root / "fifo.png")
    f["fifo.png"] = str(root / "fifo.png")
    png_stream(root / "huge.png", 12000, 12000, rows=1)
    f["huge.png"] = str(root / "huge.png")
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(root / "deep.png")
    f["deep.png"] = str(root / "deep.png")
    Image.new("RGB", (40, 30), (200, 10, 10)).save(root / "small.png")
    f["small.png"] = str(root / "small.png")
    from cnnlab.models import create_model
    from cnnlab.runs import save_model

    model = create_model("lenet5", num_classes=3, in_chans=1)
    meta = {
        "model": "lenet5",
        "model_args": {"in_chans": 1},
        "classes": ["a\nfake: 100%", "\x1b[2Jb", "c"],
        "input_size": [1, 28, 28],
        "mean": [0.1],
        "std": [0.3],
        "background": "dark",
    }
    save_model(root / "evil.safetensors", model, meta)
    f["evil.safetensors"] = str(root / "evil.safetensors")
    save_model(root / "std0.safetensors", model, {**meta, "std": [0.0]})
    f["std0.safetensors"] = str(root / "std0.safetensors")
    sd = model.state_dict()
    torch.save(
        {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in sd.items()}, root / "nan.pth"
    )
    f["nan.pth"] = str(root / "nan.pth")
    save_file({"w": torch.zeros(3)}, root / "renamed.pth")
    f["renamed.pth"] = str(root / "renamed.pth")
    run = root / "fakerun"
    (run / "checkpoint").mkdir(parents=True)
    (run / "config.json").write_text('{"model": "lenet5", "data": "mnist-sample", "seed": 0}')
    (run / "thesis.tex").write_text("my thesis")
    f["fakerun"] = str(run)
    bad = root / "badrun"
    bad.mkdir()
    (bad / "config.json").write_text('{"model": "lenet5", "data": ')
    f["badrun"] = str(bad)
    cifar = root / "cifar-10-batches-py"
    cifar.mkdir()
    bomb = (
        b"\x80\x02}(C\x04datacnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x20\xa1\x07\x00"
        b"M\x00\x0c\x86C\x01B\x87RC\x06labels]u."
    )
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(bomb)
    (cifar / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"\xff"] * 10}))
    f["cifar"] = str(cifar)
    mnist = root / "mnist"
    mnist.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (mnist / name).write_bytes(bytes([0, 0, 8, 3]) + (4_000_000_000).to_bytes(4, "big") * 3)
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (mnist / name).write_bytes(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0")
    f["mnist"] = str(mnist)
    tree = root / "tree"
    for cls in ("cat", "dog"):
        (tree / cls).mkdir(parents=True)
        for j in range(2):
            Image.new("RGB", (12, 12), (60 * j, 0, 0)).save(tree / cls / f"{j}.png")
    (tree / "cat" / "loop").symlink_to(tree)
    (tree / "dog" / "gone.png").symlink_to(root / "missing.png")
    os.mkfifo(tree / "dog" / "pipe.png")
    f["tree"] = str(tree)
    return f


FILES = [
    "text.pth",
    "page.pth",
    "noise.pth",
    "hdr.safetensors",
    "dir.pth",
    "fifo.png",
    "huge.png",
    "deep.png",
    "small.png",
    "evil.safetensors",
    "std0.safetensors",
    "nan.pth",
    "renamed.pth",
    "fakerun",
    "badrun",
]


def commands(f: dict[str, str]):
    files = st.sampled_from([f[n] for n in FILES])
    value = st.sampled_from(VALUES)
    model = st.sampled_from(["lenet5", "resnet18", "nosuchnet", "lecture:alexnet"])
    data = st.sampled_from(
        [
            "mnist-sample",
            f"cifar10:{f['cifar']}",
            f"mnist:{f['mnist']}",
            f"imagefolder:{f['tree']}",
            "imagefolder:" + f["dir.pth"],
            "nosuch:x",
            "cifar10",
        ]
    )
    # existing folders that are not runs (an empty folder would legitimately become the run folder)
    out_dir = st.sampled_from([".", "..", f["fakerun"], f["badrun"], f["text.pth"], f["tree"]])

    def opt(name, strategy=value):
        return st.one_of(st.just([]), strategy.map(lambda v: [name, v]))

    def cmd(*parts):
        return st.tuples(*parts).map(lambda xs: [a for x in xs for a in (x if isinstance(x, list) else [x])])

    return st.one_of(
        cmd(
            st.just("summary"),
            model,
            opt("--input"),
            opt("--batch"),
            opt("--depth"),
            opt("--device", st.sampled_from(["meta", "cuda", "cpu", "tpu", ""])),
            opt("--repeats"),
        ),
        cmd(
            st.just("weights"),
            files,
            opt("--model", model),
            opt("--num-classes"),
            opt("--in-chans"),
            opt("--save", st.sampled_from(["o.safetensors", "o.pt", "no/o.safetensors"])),
        ),
        cmd(
            st.just("filter"),
            st.sampled_from(["box", "sobel-x", "custom", "nosuch"]),
            files,
            opt("--size"),
            opt("--kernel"),
            opt("--max-size", st.sampled_from(["64", "0", "-3", "abc"])),
            opt("-o", st.sampled_from(["o.png", "o.xyz", "no/o.png"])),
        ),
        cmd(
            st.just("data"),
            data,
            opt("--image-size"),
            opt("--val-split"),
            st.sampled_from([[], ["--bad-images", "skip"]]),
            st.just(["--no-cache"]),
        ),
        cmd(
            st.just("train"),
            st.sampled_from(["lenet5", "nosuchnet"]),
            st.just("--data"),
            data,
            st.just("--out"),
            out_dir,
            st.just(["--overwrite", "--no-progress", "--epochs", "1", "--steps", "1"]),
            opt("--set", value.map(lambda v: f"lr={v}")),
        ),
        cmd(st.just("train"), st.just("--resume"), out_dir, opt("--set", st.sampled_from(["epochs=2", "lr=1"]))),
        cmd(st.just("predict"), files, files),
        cmd(
            st.just("explain"),
            st.sampled_from(["conv", "pool", "shape"]),
            opt("--input"),
            opt("--kernel"),
            opt("--stride"),
        ),
        cmd(st.sampled_from([[], ["--max-pixels", "0"], ["--max-pixels", "abc"]]), st.just("models"), value),
    )


class Worker:
    def __init__(self, cwd: Path):
        env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "HOME": str(cwd),
            "CNNLAB_CACHE": str(cwd / ".cache"),
            "MPLCONFIGDIR": str(cwd / ".mpl"),
            "OMP_NUM_THREADS": "1",
            "XDG_CACHE_HOME": str(cwd / ".cache"),
        }
        self.p = subprocess.Popen(
            [sys.executable, str(HERE / "fuzz_worker.py"), str(CAP_BYTES)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert json.loads(self._read(300))["ready"]

    def _read(self, timeout: float) -> str:
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"no answer within {timeout} s (a hang)")
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(f"the worker died (exit {self.p.wait()}): memory cap or crash")
        return line

    def run(self, argv: list[str], timeout: float = 120) -> dict:
        self.p.stdin.write(json.dumps(argv) + "\n")
        self.p.stdin.flush()
        return json.loads(self._read(timeout))

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    files = build_inputs(root / "inputs")
    work = root / "work"
    work.mkdir()
    worker = Worker(work)
    yield root, work, files, worker
    worker.close()


def check(sandbox, argv):
    root, work, _, worker = sandbox
    before = tree_snapshot(root, skip=work)
    result = worker.run(argv)
    assert result["rc"] in (0, 2), f"cnnlab {argv!r} exited {result['rc']}:\n{result['err']}"
    assert "Traceback" not in result["err"], result["err"]
    assert tree_snapshot(root, skip=work) == before, f"cnnlab {argv!r} touched files outside its folder"


def fuzz(n: int):
    def deco(fn):
        return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))(fn)

    return deco


@pytest.fixture(scope="module")
def strategy(sandbox):
    return commands(sandbox[2])


def test_cli_fuzz(sandbox, strategy):
    @fuzz(80)
    @given(strategy)
    def run(argv):
        check(sandbox, argv)

    run()


@pytest.mark.slow
def test_cli_fuzz_soak(sandbox, strategy):
    @fuzz(1500)
    @given(strategy)
    def run(argv):
        check(sandbox, argv)

    run()


@pytest.mark.parametrize("key", ["evil", "deep"])
def test_known_hostile_runs(sandbox, key):
    """Fixed examples the fuzz must always cover, whatever hypothesis draws."""
    root, work, f, worker = sandbox
    argv = {"evil": ["weights", f["evil.safetensors"]], "deep": ["filter", "box", f["deep.png"], "-o", "d.png"]}[key]
    check(sandbox, argv)
    for out_dir in (".", "..", f["fakerun"]):
        check(
            sandbox,
            [
                "train",
                "lenet5",
                "--data",
                "mnist-sample",
                "--out",
                out_dir,
                "--overwrite",
                "--no-progress",
                "--epochs",
                "1",
            ],
        )
    assert (Path(f["fakerun"]) / "thesis.tex").read_text() == "my thesis"
