"""The pieces of elastic training that need no torchrun: the fault-injection hook exits once, on the
named rank and step only, and the restart variables are read as torchrun sets them."""

from __future__ import annotations

import subprocess

from train_support import PYTHON, child_env

from cnnlab.train import distributed as ddp

CALL = (
    "from cnnlab.train.distributed import DistInfo, fail_if_asked\n"
    "for step in range(1, 6):\n"
    "    fail_if_asked(step, DistInfo({rank}, 2, 0))\n"
    "print('finished')\n"
)


def test_the_failure_hook_exits_once_on_the_named_rank_after_the_named_step(tmp_path, monkeypatch):
    marker = tmp_path / "failed"
    env = {"CNNLAB_FAIL_AFTER_STEP": "3", "CNNLAB_FAIL_RANK": "1", "CNNLAB_FAIL_MARKER": str(marker)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for step in range(1, 6):  # another rank never fails
        ddp.fail_if_asked(step, ddp.DistInfo(0, 2, 0))
    assert not marker.exists()
    first = subprocess.run(
        [PYTHON, "-c", CALL.format(rank=1)], env={**child_env(), **env}, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 17 and "finished" not in first.stdout  # os._exit: no clean-up, no output
    assert marker.read_text() == "rank 1 exited after step 3\n"
    for step in range(1, 6):  # the restarted process finds the marker and goes on
        ddp.fail_if_asked(step, ddp.DistInfo(1, 2, 0))
    marker.unlink()
    monkeypatch.delenv("CNNLAB_FAIL_MARKER")
    ddp.fail_if_asked(3, ddp.DistInfo(1, 2, 0))  # no marker file named: never (it would fail at every restart)


def test_restart_variables(monkeypatch):
    for name in ("TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    assert ddp.restart_count() == 0 and not ddp.elastic() and ddp.elastic_run_id() is None
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "2")
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "3")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job-42")
    assert ddp.restart_count() == 2 and ddp.elastic() and ddp.elastic_run_id() == "job-42"
    monkeypatch.setenv("TORCHELASTIC_MAX_RESTARTS", "0")
    assert not ddp.elastic()
