"""Two "machines" on the loopback: two torchrun agents (--nnodes 2, one process each) meet at a c10d
rendezvous, train on an image folder streamed from a memory-mapped cache (each rank reading only its
rows of every batch), and hold identical weights. Elastic: rank 1 exits abruptly after step 3;
torchrun (--max-restarts 1) restarts the group, the run resumes from its last checkpoint and ends
with the weights of the uninterrupted run, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest
import torch
from PIL import Image
from train_support import PYTHON, child_env

from cnnlab.runs import read_model_file

STEPS, CHECKPOINT_EVERY, FAIL_AFTER = 6, 2, 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """240 MNIST digits as PNG files in class folders."""
    from cnnlab.data import load_data

    root = tmp_path_factory.mktemp("digits")
    data = load_data("mnist-sample")
    for i in range(240):
        folder = root / "folder" / str(int(data.train.labels[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(data.train.images[i, 0].numpy()).save(folder / f"{i:04d}.png")
    return root


def two_nodes(digits, out, env_extra=None, restarts=0) -> list[subprocess.CompletedProcess]:
    port = free_port()
    agent = [
        PYTHON,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{port}",
        "--rdzv-id",
        out.name,
        "--max-restarts",
        str(restarts),
        "--monitor-interval",
        "0.5",
        "-m",
        "cnnlab",
        "train",
        "lenet5",
        "--data",
        f"imagefolder:{digits / 'folder'}",
        "--image-size",
        "28",
        "--channels",
        "1",
        "--data-cache",
        "disk",
        "--cache-dir",
        str(digits / "cache"),
        "--loader-workers",
        "1",
        "--augment",
        "crop=2,flip",
        "--steps",
        str(STEPS),
        "--batch-size",
        "16",
        "--precision",
        "fp32",
        "--deterministic",
        "--checkpoint-every",
        str(CHECKPOINT_EVERY),
        "--no-progress",
        "--out",
        str(out),
    ]
    # a fresh rendezvous store per round: torch's shared store can hand a restarted group the old
    # round's addresses when the machines' ranks change (docs/distributed.md)
    env = {**child_env(), "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1", **(env_extra or {})}
    procs = [
        subprocess.Popen(
            agent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        for _ in range(2)
    ]
    results = []
    try:
        for p in procs:
            stdout, _ = p.communicate(timeout=300)
            results.append(subprocess.CompletedProcess(agent, p.returncode, stdout))
    finally:
        for p in procs:  # a hung agent and its processes do not outlive the test
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    return results


@pytest.fixture(scope="module")
def reference(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("nodes") / "reference"
    results = two_nodes(digits, out)
    assert all(r.returncode == 0 for r in results), results[0].stdout[-3000:] + results[1].stdout[-3000:]
    return out, results


@pytest.mark.slow
def test_two_nodes_on_the_loopback_hold_identical_weights(reference):
    out, results = reference
    info = json.loads((out / "distributed.json").read_text())
    assert info["world_size"] == 2 and info["backend"] == "gloo"
    assert info["in_sync"] and len(info["state_sha256"]) == 2 and len(set(info["state_sha256"])) == 1
    config = json.loads((out / "config.json").read_text())["resolved"]
    assert config["processes"] == 2 and config["steps"] == STEPS
    log = "".join(r.stdout for r in results)
    assert log.count("run folder:") == 1  # rank 0 reports, on one machine
    assert "--data-cache disk" in log


@pytest.mark.slow
def test_a_lost_process_is_restarted_and_the_run_ends_as_if_nothing_happened(reference, digits, tmp_path):
    marker = tmp_path / "failed-once"
    out = tmp_path / "elastic"
    results = two_nodes(
        digits,
        out,
        {"CNNLAB_FAIL_AFTER_STEP": str(FAIL_AFTER), "CNNLAB_FAIL_RANK": "1", "CNNLAB_FAIL_MARKER": str(marker)},
        restarts=1,
    )
    log = "".join(r.stdout for r in results)
    assert all(r.returncode == 0 for r in results), log[-6000:]
    assert marker.read_text() == f"rank 1 exited after step {FAIL_AFTER}\n"
    # the restarted group found the folder it was writing and resumed it from the step-2 checkpoint
    assert f"resuming {out} at epoch 1, step {CHECKPOINT_EVERY}" in log
    ref, _ = read_model_file(reference[0] / "model.safetensors")
    got, _ = read_model_file(out / "model.safetensors")
    assert ref.keys() == got.keys() and all(torch.equal(ref[k], got[k]) for k in ref)
    info = json.loads((out / "distributed.json").read_text())
    ref_info = json.loads((reference[0] / "distributed.json").read_text())
    assert info["in_sync"] and info["state_sha256"] == ref_info["state_sha256"]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [STEPS]  # one epoch record, not a repeated one
