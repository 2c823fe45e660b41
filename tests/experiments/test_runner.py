"""A tiny experiment end to end through the CLI: interrupted, re-run without retraining finished runs,
resumed, refused when the table changes; the report's numbers equal the runs' metrics; `cnnlab plot`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cnnlab.cli import main
from cnnlab.experiments import EXPERIMENTS
from cnnlab.runs import read_jsonl

from helpers.tiny_experiment import tiny_experiment


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def report_rows(report: str) -> dict[str, list[str]]:
    rows = {}
    for line in report.splitlines():
        if line.startswith("| ") and not line.startswith("| configuration"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(EXPERIMENTS, "tiny", tiny_experiment())
    return "tiny"


def run_cli(name, out, *extra):
    return main(["experiment", "run", name, "--data", "mnist-sample", "--out", str(out), "--no-progress", *extra])


def test_interrupt_reuse_resume_and_report(tiny, tmp_path, monkeypatch, capsys):
    out = tmp_path / "exp"
    # 1. stop after the first configuration: no report yet
    assert run_cli(tiny, out, "--max-runs", "1") == 3
    first = out / "runs" / "relu-s0"
    assert (first / "model.safetensors").is_file() and not (out / "runs" / "tanh-s0").exists()
    assert not (out / "report.md").exists()
    before = snapshot(first)

    # 2. the second run is killed at the end of its second epoch (before its metrics line; metrics.jsonl
    # is written by the trainer's JsonlLogger callback)
    import cnnlab.train.callbacks as trainer

    real_append = trainer.append_jsonl

    def dying_append(path, record):
        if "tanh-s0" in str(path) and record["epoch"] == 2:
            raise KeyboardInterrupt
        real_append(path, record)

    monkeypatch.setattr(trainer, "append_jsonl", dying_append)
    assert run_cli(tiny, out) == 130
    monkeypatch.setattr(trainer, "append_jsonl", real_append)
    second = out / "runs" / "tanh-s0"
    assert len(read_jsonl(second / "metrics.jsonl")) == 1 and (second / "checkpoint").is_dir()

    # 3. the same command again: the first run is reused untouched, the second resumes from its checkpoint
    capsys.readouterr()
    assert run_cli(tiny, out) == 0
    log = capsys.readouterr().out
    assert "relu-s0: finished earlier, reused" in log and "tanh-s0: resuming" in log
    assert "1 resumed, 1 reused" in log
    assert snapshot(first) == before
    metrics = {name: read_jsonl(out / "runs" / f"{name}-s0" / "metrics.jsonl") for name in ("relu", "tanh")}
    assert [m["epoch"] for m in metrics["tanh"]] == [1, 2]

    # 4. the report's numbers are the metrics files'
    report = (out / "report.md").read_text()
    rows = report_rows(report)
    assert set(rows) == {"relu", "tanh"}
    for name, ms in metrics.items():
        row = rows[name]
        assert row[2] == "61,706"  # LeNet-5's parameters (LeCun et al. 1998 form in cnnlab: 61,706)
        assert row[5] == str(len(ms))
        assert row[6] == f"{100 - ms[-1]['train_top1']:.2f}"
        assert row[7] == f"{100 - ms[-1]['val_top1']:.2f}"
        hit = next((m["epoch"] for m in ms if 100 - m["train_top1"] <= 60.0), None)
        assert row[8] == (f"not reached in {len(ms)}" if hit is None else f"{hit:g}")
        assert row[9] == f"{sum(m['seconds'] + m['eval_seconds'] for m in ms) / 60:.1f}"
    relu, tanh = (100 - metrics[n][-1]["train_top1"] for n in ("relu", "tanh"))
    word = "Supports" if relu < tanh else "Does not support"
    assert f"**Verdict.** {word} the claim at the quick budget" in report
    assert "test split was not used" in report and "cnnlab 0." in report and "cores available" in report
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # 5. a fourth run trains nothing and rewrites the same table
    after = snapshot(out / "runs")
    assert run_cli(tiny, out) == 0
    assert snapshot(out / "runs") == after
    assert report_rows((out / "report.md").read_text()) == rows

    # 6. a changed table is refused, naming the setting, and nothing is touched
    monkeypatch.setitem(EXPERIMENTS, "tiny", tiny_experiment(lr=0.2))
    assert run_cli(tiny, out) == 2
    err = capsys.readouterr().err
    assert "lr: 0.1 -> 0.2" in err and "another --out" in err
    assert snapshot(out / "runs") == after

    # 7. cnnlab plot on the two runs
    png = tmp_path / "plot.png"
    assert main(["plot", str(first), str(second), "--metric", "loss", "--x", "time", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_changed_subset_is_refused(tiny, tmp_path, capsys):
    out = tmp_path / "exp"
    assert run_cli(tiny, out, "--max-runs", "1") == 3
    assert run_cli(tiny, out, "--train-per-class", "5") == 2
    assert "was trained as" in capsys.readouterr().err


def test_diverged_run_is_a_result(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(EXPERIMENTS, "tiny", tiny_experiment(epochs=1, lr=1e30, clip_grad=0.0))
    out = tmp_path / "exp"
    assert run_cli("tiny", out) == 0
    diverged = json.loads((out / "runs" / "relu-s0" / "diverged.json").read_text())
    assert "loss became" in diverged["message"]
    rows = report_rows((out / "report.md").read_text())
    assert "diverged: 1 of 1 seeds" in rows["relu"][6] and rows["relu"][6].startswith("90.00")  # chance, 10 classes
    assert run_cli("tiny", out) == 0
    assert "2 reused" in capsys.readouterr().out  # not retried


def test_plot_errors_name_the_folder(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope"), "-o", str(tmp_path / "x.png")]) == 2
    assert "nope" in capsys.readouterr().err


def test_cli_list_and_show(capsys):
    assert main(["experiment", "list", "--no-estimate"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^degradation\s+Plain vs residual", out, re.M) and "bottleneck" in out
    assert main(["experiment", "show", "activation"]) == 0
    out = capsys.readouterr().out
    assert "Fig. 1" in out and "budget quick: 2 runs" in out and "cifar_convnet4" in out
    assert main(["experiment", "show", "degradaton"]) == 2
    assert "degradation" in capsys.readouterr().err


def test_a_configuration_starts_from_another(monkeypatch, tmp_path):
    """transfer's pattern: a backbone on some classes, a linear probe from its weights on the others."""
    import torch
    from safetensors.torch import load_file

    from cnnlab.experiments import Budget, Config, Experiment, Subset, Verdict

    exp = Experiment(
        name="tiny-transfer",
        title="t",
        claim="c",
        lecture="lecture 004",
        paper="Yosinski et al. 2014, Fig. 2",
        configs=(
            Config("src", "lenet5", subset=Subset(classes=(0, 1, 2, 3, 4, 5))),
            Config(
                "probe",
                "lenet5",
                overrides={"freeze": "backbone"},
                subset=Subset(classes=(6, 7, 8, 9)),
                init_from="src",
                x=12,
            ),
        ),
        budgets={"quick": Budget(epochs=1, subset=Subset(per_class=12, val_per_class=4)), "full": Budget(epochs=2)},
        recipe="lenet-mnist",
        overrides={"batch_size": 12, "precision": "fp32"},
        data="mnist-sample",
        data_options={"val_split": 0.2},
        verdict=lambda r: Verdict(True, "test"),
    )
    monkeypatch.setitem(EXPERIMENTS, "tiny-transfer", exp)
    out = tmp_path / "exp"
    assert run_cli("tiny-transfer", out) == 0
    src, probe = out / "runs" / "src-s0", out / "runs" / "probe-s0"
    config = json.loads((probe / "config.json").read_text())
    assert config["init_weights"] == str((src / "model.safetensors").resolve())
    assert config["resolved"]["classes"] == ["6", "7", "8", "9"]
    a, b = load_file(str(src / "model.safetensors")), load_file(str(probe / "model.safetensors"))
    backbone = [k for k in a if not k.startswith("output.")]  # lenet5's classifier is `output`
    assert len(backbone) == 8 and all(torch.equal(a[k], b[k]) for k in backbone)  # the backbone did not move
    assert a["output.weight"].shape == (6, 84) and b["output.weight"].shape == (4, 84)  # a new 4-class head
