"""The package as users get it: metadata, a wheel that installs in a fresh venv and trains from elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_metadata_ranges_and_files():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert "torch>=2.4" in project["dependencies"]  # a range: the exact build lives in constraints.txt
    assert not any(d.startswith("torch==") for d in project["dependencies"])
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()
    assert project["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert "Typing :: Typed" in project["classifiers"]
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["cnnlab"]
    assert (ROOT / "src" / "cnnlab" / "py.typed").is_file()
    assert "pandas>=2" in project["optional-dependencies"]["notebook"]


def _run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(kw.pop("env", {}))
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200, **kw)


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_venv_and_trains(tmp_path):
    dist = tmp_path / "dist"
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)])
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = dist.glob("cnnlab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in (
        "cnnlab/py.typed",
        "cnnlab/data/builtin/photos/camera.png",
        "cnnlab/data/builtin/mnist-sample/train-images-idx3-ubyte.gz",
        "cnnlab/train/recipes/lenet-mnist.toml",
    ):
        assert needed in names, needed
    assert any(n.endswith("licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: torch>=2.4" in metadata

    # a fresh venv: the wheel alone, its dependencies seen from this environment (no re-download of torch)
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    py = venv / "bin" / "python"
    r = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)])
    assert r.returncode == 0, r.stderr[-3000:]
    site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    Path(site, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run([str(py), "-c", "import cnnlab; print(cnnlab.__file__)"], cwd=work)
    assert where.stdout.strip().startswith(str(venv)), where
    r = _run(
        [
            str(venv / "bin" / "cnnlab"),
            "train",
            "lenet5",
            "--data",
            "mnist-sample",
            "--epochs",
            "1",
            "--out",
            "run",
            "--no-progress",
        ],
        cwd=work,
    )
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert "val accuracy" in r.stdout  # the CLI names the split it reports (validation)
    assert (work / "run" / "model.safetensors").is_file()
    record = json.loads((work / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_top1"] > 80  # one epoch of LeNet-5 on the sample: ~90% held-out
    r = _run(
        [str(venv / "bin" / "cnnlab"), "filter", "sharpen", "skimage:camera", "--max-size", "64", "-o", "s.png"],
        cwd=work,
    )
    assert r.returncode == 0 and (work / "s.png").is_file(), r.stderr[-2000:]


@pytest.mark.slow
def test_constraints_pick_the_local_cpu_torch(tmp_path):
    """What `make demo` resolves on this machine: torch from the constraints, a CPU build, no CUDA wheels."""
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    report = tmp_path / "report.json"
    r = _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "-q",
            "-c",
            str(ROOT / "constraints.txt"),
            "--report",
            str(report),
            str(ROOT),
        ]
    )
    assert r.returncode == 0, r.stderr[-3000:]
    chosen = {
        i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]
    }
    assert chosen["torch"].startswith("2.13.0")
    assert not any(name.startswith("nvidia") or "cuda" in name for name in chosen), sorted(chosen)
