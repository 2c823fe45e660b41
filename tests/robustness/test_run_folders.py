"""Run folders: --overwrite replaces only cnnlab runs (by a swap), one writer per folder (flock),
killed writes cleaned up, resume refuses other data, NaN stops say what helps, disk errors are clear."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.errors import CnnlabError
from cnnlab.runs import (
    LOCK_FILE,
    check_data_fingerprint,
    claim_run_dir,
    clean_temp_files,
    data_fingerprint,
    prepare_run_dir,
    run_dir_problem,
)

from helpers.hostile import SRC, tiny_splits, tree_snapshot


def make_run(folder: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A folder shaped like a finished cnnlab run."""
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": "lenet5", "data": "mnist-sample", "seed": 0}))
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (folder / "model.safetensors").write_bytes(b"x" * 10)
    (folder / "curves.png").write_bytes(b"png")
    (folder / "checkpoint" / "last.safetensors").write_bytes(b"ckpt")
    for name, data in (extra or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


# -- 1. never delete what cnnlab did not write ----------------------------------------------------------


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    """`--out . --overwrite` used to delete the current folder's files."""
    work = tmp_path / "project"
    (work / "src").mkdir(parents=True)
    (work / "src" / "main.py").write_text("print('mine')\n")
    (work / "notes.txt").write_text("keep me\n")
    before = tree_snapshot(work)
    with pytest.raises(CnnlabError, match="no config.json") as e:
        prepare_run_dir(work, overwrite=True)
    assert "--overwrite refused" in e.value.message
    assert tree_snapshot(work) == before


@pytest.mark.parametrize("foreign", ["notes.txt", "photos/cat.jpg", "analysis.py"])
def test_overwrite_refuses_a_run_holding_foreign_files(tmp_path, foreign):
    run = make_run(tmp_path / "run", {foreign: b"user data"})
    before = tree_snapshot(run)
    with pytest.raises(CnnlabError, match="holds files cnnlab does not write") as e:
        prepare_run_dir(run, overwrite=True)
    assert foreign.split("/")[-1] in e.value.message
    assert tree_snapshot(run) == before


def test_overwrite_refuses_a_config_that_is_not_cnnlabs(tmp_path):
    run = tmp_path / "web"
    run.mkdir()
    (run / "config.json").write_text('{"name": "my website", "port": 80}')
    with pytest.raises(CnnlabError, match="not a cnnlab run configuration"):
        prepare_run_dir(run, overwrite=True)
    assert (run / "config.json").exists()


def test_overwrite_refuses_a_symlinked_run(tmp_path):
    real = make_run(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(CnnlabError, match="symbolic link"):
        prepare_run_dir(link, overwrite=True)
    assert (real / "config.json").exists()


def test_overwrite_swaps_a_recognised_run_and_touches_nothing_else(tmp_path):
    run = make_run(tmp_path / "run", {"confusion.png": b"p", "eval/report.json": b"{}"})
    (run / ".model.safetensors.abc.tmp").write_bytes(b"half")
    (tmp_path / "sibling.txt").write_text("untouched")
    outside = tree_snapshot(tmp_path, skip=run)
    with claim_run_dir(run, overwrite=True) as got:
        assert got == run and sorted(p.name for p in run.iterdir()) == [LOCK_FILE]
    after = tree_snapshot(tmp_path, skip=run)
    assert after == {k: v for k, v in outside.items() if k in after}  # nothing outside changed
    assert set(after) == set(outside)  # no leftover .run.new-/.run.old- folders


def test_a_failed_swap_keeps_the_old_run(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    before = tree_snapshot(run)
    real_rename = os.rename
    calls = []

    def failing_rename(a, b):
        calls.append((a, b))
        if len(calls) == 2:  # moving the new folder in fails
            raise OSError(28, "No space left on device")
        return real_rename(a, b)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(CnnlabError, match="the old run is unchanged"):
        prepare_run_dir(run, overwrite=True)
    monkeypatch.undo()
    after = tree_snapshot(run)
    assert {k: v for k, v in after.items() if k != LOCK_FILE} == {k: v for k, v in before.items() if k != LOCK_FILE}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_out_that_is_a_file_or_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CnnlabError, match="exists and is not a folder"):
        prepare_run_dir(tmp_path / "afile", overwrite=True)
    with pytest.raises(CnnlabError, match="parent of it is a file"):
        prepare_run_dir(tmp_path / "afile" / "run", overwrite=False)
    assert (tmp_path / "afile").read_text() == "x"


def test_recognises_what_trainer_writes(tmp_path):
    from cnnlab.train import train

    result = train(
        model="lenet5",
        data="tiny",
        dataset=tiny_splits(),
        epochs=1,
        batch_size=32,
        progress=False,
        out=str(tmp_path / "run"),
        threads=1,
    )
    assert run_dir_problem(result.run_dir) is None
    # and --overwrite replaces it
    again = train(
        model="lenet5",
        data="tiny",
        dataset=tiny_splits(),
        epochs=1,
        batch_size=32,
        progress=False,
        out=str(tmp_path / "run"),
        overwrite=True,
        threads=1,
    )
    assert again.run_dir == result.run_dir and (again.run_dir / "model.safetensors").is_file()


# -- 2. one writer per run folder ---------------------------------------------------------------------------


def test_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path):
    run = tmp_path / "run"
    with claim_run_dir(run):
        (run / "config.json").write_text('{"model": "lenet5", "data": "mnist-sample"}')
        with pytest.raises(CnnlabError, match="in use: cnnlab process %d" % os.getpid()):
            with claim_run_dir(run, overwrite=True):
                pass
        with pytest.raises(CnnlabError, match="in use"):
            with claim_run_dir(run, resume=True):
                pass
    with claim_run_dir(run, resume=True):  # released at the end of the first
        pass


def test_lock_of_a_killed_process_is_free(tmp_path):
    run = tmp_path / "run"
    code = (
        "import sys, time; sys.path.insert(0, %r)\nfrom cnnlab.runs import claim_run_dir\n"
        "with claim_run_dir(%r):\n    print('held', flush=True); time.sleep(60)"
    ) % (str(SRC), str(run))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(CnnlabError, match=f"process {p.pid}"):
            with claim_run_dir(run, resume=True):
                pass
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (run / LOCK_FILE).exists()  # the stale file stays, its lock does not
    with claim_run_dir(run):  # a folder holding only a stale lock counts as empty
        assert (run / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_temporary_files_of_killed_writes_are_removed_on_the_next_start(tmp_path):
    run = make_run(tmp_path / "run")
    (run / ".config.json.x1.tmp").write_text("{")
    (run / "checkpoint" / ".last.safetensors.x2.tmp").write_bytes(b"half")
    (run / "notes.tmp").write_text("not ours: no leading dot")
    with claim_run_dir(run, resume=True):
        names = {p.name for p in run.rglob("*")}
    assert ".config.json.x1.tmp" not in names and ".last.safetensors.x2.tmp" not in names
    assert "notes.tmp" in names and "last.safetensors" in names
    assert clean_temp_files(run) == []


@pytest.mark.slow
def test_two_trainings_on_one_folder(tmp_path):
    """End to end: the second `cnnlab train --out SAME` is refused while the first runs."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "CNNLAB_CACHE": str(tmp_path / "cache")}
    args = [
        sys.executable,
        "-m",
        "cnnlab",
        "train",
        "lenet5",
        "--data",
        "mnist-sample",
        "--epochs",
        "30",
        "--out",
        str(tmp_path / "run"),
        "--no-progress",
        "--threads",
        "1",
    ]
    first = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (tmp_path / "run" / "config.json").exists() and time.time() < deadline:
            time.sleep(0.5)
        second = subprocess.run(args + ["--overwrite"], env=env, capture_output=True, text=True, timeout=240)
        assert second.returncode == 2 and "in use" in second.stderr, second.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


# -- 6. resume continues the same run ------------------------------------------------------------------------


def test_fingerprint_changes_with_the_data_not_its_location():
    a, b = tiny_splits(seed=0), tiny_splits(seed=0)
    assert data_fingerprint(a) == data_fingerprint(b)
    c = tiny_splits(seed=0)
    c.train.images[-1, 0, 0, 0] ^= 1  # the last image is always in the strided sample
    assert data_fingerprint(c)["sha256"] != data_fingerprint(a)["sha256"]
    d = tiny_splits(seed=0)
    d.train.labels[5] = 1 - d.train.labels[5]  # every label is hashed
    assert data_fingerprint(d)["sha256"] != data_fingerprint(a)["sha256"]
    assert data_fingerprint(tiny_splits(size=32))["train"] == [64, 1, 32, 32]


def test_resume_on_other_data_is_refused_unless_asked(tmp_path):
    from cnnlab.train import train

    run = tmp_path / "run"
    train(
        model="lenet5",
        data="tiny",
        dataset=tiny_splits(),
        epochs=1,
        batch_size=32,
        progress=False,
        out=str(run),
        threads=1,
    )
    recorded = json.loads((run / "config.json").read_text())["resolved"]["data_fingerprint"]
    assert recorded == data_fingerprint(tiny_splits())
    other = tiny_splits(seed=1)
    with pytest.raises(CnnlabError, match="the data differs") as e:
        train(resume=run, dataset=other, epochs=2, progress=False)
    assert "--data-changed" in e.value.hint
    result = train(resume=run, dataset=other, epochs=2, progress=False, data_changed=True)
    assert len(result.metrics) == 2
    note = check_data_fingerprint(run, data_fingerprint(tiny_splits()), allow_changed=True)
    assert note and "sha256" in note


def test_corrupt_config_on_resume_is_a_clear_error(tmp_path):
    from cnnlab.train import train

    run = make_run(tmp_path / "run")
    (run / "config.json").write_text('{"model": "lenet5", "data": ')
    with pytest.raises(CnnlabError, match="config.json: not a readable run configuration"):
        train(resume=run, progress=False)
    (run / "config.json").write_text('{"model": "lenet5", "data": "tiny", "lr": "fast"}')
    with pytest.raises(CnnlabError, match="lr='fast' must be a number"):
        train(resume=run, progress=False)


def test_nan_stop_offers_what_helps(tmp_path):
    from cnnlab.train import train
    from cnnlab.train.trainer import NonFiniteLoss

    with pytest.raises(NonFiniteLoss) as e:
        train(
            model="lenet5",
            data="tiny",
            dataset=tiny_splits(),
            epochs=3,
            batch_size=32,
            lr=1e12,
            progress=False,
            out=str(tmp_path / "run"),
            threads=1,
            precision="fp32",
        )
    text = str(e.value)
    assert "lower learning rate" in e.value.hint and "--overwrite" in e.value.hint
    assert "--resume" not in e.value.hint and "continues from it" not in text


# -- 7. a full disk while checkpointing ---------------------------------------------------------------------


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from safetensors import SafetensorError

    from cnnlab.train import checkpoint as ck

    run = tmp_path / "run"
    run.mkdir()
    ck.save_checkpoint(run, {"x": torch.arange(3.0)})
    good = (run / "checkpoint" / "last.safetensors").read_bytes()

    def full(*a, **k):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(ck, "save_file", full)
    with pytest.raises(CnnlabError, match="cannot write .*No space left"):
        ck.save_checkpoint(run, {"x": torch.arange(4.0)})
    assert (run / "checkpoint" / "last.safetensors").read_bytes() == good
    assert [p.name for p in (run / "checkpoint").iterdir()] == ["last.safetensors"]
    assert torch.equal(ck.load_checkpoint(run)["x"], torch.arange(3.0))
