"""tools/publish_experiment.py: the report goes into docs/experiments with its figure, machine paths made relative."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "publish_experiment.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("publish_experiment", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_publish_copies_the_report_and_figure_with_relative_paths(tmp_path, monkeypatch):
    tool = load_tool()
    repo = tmp_path / "repo"
    monkeypatch.setattr(tool, "ROOT", repo)
    out = tmp_path / "runs" / "demo-quick"
    out.mkdir(parents=True)
    (out / "report.md").write_text(f"- data: `cifar10:{tmp_path}/shared/data/cifar`\n\n![fig](figure.png)\n")
    (out / "figure.png").write_bytes(b"\x89PNG fake")
    (out / "plan.json").write_text(json.dumps({"overrides": {}, "subset": {"per_class": None}}))

    page = tool.publish(out, "demo")
    assert page == repo / "docs" / "experiments" / "demo.md"
    assert page.read_text() == "- data: `cifar10:../shared/data/cifar`\n\n![fig](img/demo.png)\n"
    assert (repo / "docs" / "experiments" / "img" / "demo.png").read_bytes() == b"\x89PNG fake"


def test_publish_refuses_trial_runs(tmp_path, monkeypatch):
    tool = load_tool()
    monkeypatch.setattr(tool, "ROOT", tmp_path / "repo")
    out = tmp_path / "trial"
    out.mkdir()
    (out / "report.md").write_text("r")
    (out / "figure.png").write_bytes(b"p")
    (out / "plan.json").write_text(json.dumps({"overrides": {"epochs": 1}, "subset": {}}))
    with pytest.raises(SystemExit, match="--set"):
        tool.publish(out, "trial")
    assert not (tmp_path / "repo" / "docs").exists()
