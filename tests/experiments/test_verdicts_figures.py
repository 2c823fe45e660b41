"""Verdict rules and figures of all eleven experiments on synthetic results (no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.experiments import EXPERIMENTS, get_experiment
from cnnlab.experiments.figures import plot_experiment
from cnnlab.experiments.results import ConfigResult, RunResult


def fake_run(name: str, train_errors: list[float], val_errors: list[float], classes: int = 10) -> RunResult:
    metrics = [
        {
            "epoch": i + 1,
            "step": 10 * (i + 1),
            "train_top1": 100 - t,
            "val_top1": 100 - v,
            "train_loss": t / 50,
            "val_loss": v / 50,
            "seconds": 2.0,
            "eval_seconds": 0.5,
        }
        for i, (t, v) in enumerate(zip(train_errors, val_errors))
    ]
    return RunResult(name, 0, Path(name), metrics, {"resolved": {"classes": [str(k) for k in range(classes)]}})


def fake_results(exp, final_train, final_val, epochs: int = 4) -> dict[str, ConfigResult]:
    out = {}
    for i, c in enumerate(exp.configs_for("quick")):
        t, v = final_train(c), final_val(c)
        curve_t = [t + 10 * (epochs - 1 - e) for e in range(epochs)]
        curve_v = [v + 8 * (epochs - 1 - e) for e in range(epochs)]
        out[c.name] = ConfigResult(
            c, [fake_run(c.name, curve_t, curve_v)], params=1000 * (i + 1), macs=10_000_000 * (i + 1)
        )
    return out


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_verdict_and_figure_on_synthetic_results(name, tmp_path):
    exp = get_experiment(name)
    results = fake_results(exp, lambda c: 20.0 + len(c.name), lambda c: 30.0 + len(c.name) / 2)
    verdict = exp.verdict(results)
    assert isinstance(verdict.supports, bool) and "%" in verdict.because
    assert verdict.sentence("quick").startswith(
        ("Supports the claim at the quick budget, because", "Does not support the claim at the quick budget, because")
    )
    png = plot_experiment(exp, results, tmp_path / "figure.png", "quick")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_degradation_rule():
    exp = get_experiment("degradation")
    plain_grows = fake_results(
        exp, lambda c: {"plain20": 10, "plain56": 16, "resnet20": 10, "resnet56": 8}[c.name], lambda c: 20
    )
    v = exp.verdict(plain_grows)
    assert v.supports and "plain-56's final training error is 16.0% against plain-20's 10.0%" in v.because
    both_grow = fake_results(
        exp, lambda c: {"plain20": 10, "plain56": 16, "resnet20": 10, "resnet56": 14}[c.name], lambda c: 20
    )
    v = exp.verdict(both_grow)
    assert not v.supports and "ResNet-56 still trains worse" in v.because
    assert "cut the 36 extra layers' penalty from +6.0 to +4.0 points" in v.because


def test_activation_rule_uses_epochs_to_25_percent():
    exp = get_experiment("activation")
    res = {
        "relu": ConfigResult(exp.config("relu"), [fake_run("relu", [40, 24, 20, 15], [40] * 4)], 1, 1),
        "tanh": ConfigResult(exp.config("tanh"), [fake_run("tanh", [50, 45, 30, 26], [50] * 4)], 1, 1),
    }
    v = exp.verdict(res)
    assert v.supports and "after 2 epochs" in v.because and "had not reached it after 4" in v.because
    res["tanh"] = ConfigResult(exp.config("tanh"), [fake_run("tanh", [40, 24.5, 20, 15], [50] * 4)], 1, 1)
    v = exp.verdict(res)
    assert not v.supports and "(1.0x)" in v.because


def test_diverged_run_counts_as_chance():
    exp = get_experiment("batchnorm")
    results = fake_results(exp, lambda c: 10.0, lambda c: 20.0)
    results["nobn-lr0.1"].runs[0].diverged = {"message": "the loss became nan"}
    assert results["nobn-lr0.1"].mean("val_error") == 90.0
    v = exp.verdict(results)
    assert "90.0% without" in v.because


def test_a_difference_within_a_point_is_not_called_a_win():
    # one seed on 2,000 held-out images: 0.3 points is noise (binomial s.e. of a 27% error: 0.99 points)
    exp = get_experiment("pooling")
    close = fake_results(exp, lambda c: 30.0, lambda c: {"max": 27.3, "avg": 27.6}[c.name])
    v = exp.verdict(close)
    assert not v.supports and "a 0.3-point difference is within 1 point" in v.because
    clear = fake_results(exp, lambda c: 30.0, lambda c: {"max": 25.0, "avg": 27.6}[c.name])
    v = exp.verdict(clear)
    assert v.supports and "better by 2.6 points" in v.because


def test_panel_titles_name_groups_and_never_repeat_the_figure_title(tmp_path, monkeypatch):
    """depth has one unnamed group: its single panel has no title (the figure's says it all);
    degradation's two panels are titled by their groups."""
    import matplotlib.figure

    titles: list[list[str]] = []
    save = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        titles.append([ax.get_title() for ax in fig.axes])
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    for name in ("depth", "degradation"):
        exp = get_experiment(name)
        plot_experiment(exp, fake_results(exp, lambda c: 20.0, lambda c: 30.0), tmp_path / f"{name}.png", "quick")
    assert titles == [[""], ["plain", "ResNet"]]
