"""Running an experiment: every configuration x seed as an ordinary, resumable run folder, then the report.

    OUT/plan.json              what each run is (configuration, seed, data subset), checked on re-runs
    OUT/runs/NAME-sSEED/       a `cnnlab train` run folder (config.json, metrics.jsonl, checkpoint/, ...)
    OUT/report.md  figure.png  the comparison

Run the same command again after an interruption: finished runs (a metrics.jsonl with all their
epochs and the final weights) are read back untouched, a started one resumes from its checkpoint
(the trainer's exact resume), the rest train. A run folder whose configuration differs from the
table's is refused, never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnlabError
from ..runs import MODEL_FILE, read_jsonl, read_model_meta, write_json
from .results import ConfigResult, RunResult
from .spec import Experiment, PlannedRun, Subset

PLAN_FILE = "plan.json"
DIVERGED_FILE = "diverged.json"  # written into a run folder whose loss became NaN/infinite
# config.json keys that may differ between the table and a run folder (they do not change the numbers)
NOT_COMPARED = {"out", "progress", "threads", "device", "checkpoint_every", "overwrite", "data", "resolved"}


@dataclass
class ExperimentRun:
    experiment: Experiment
    budget: str
    out: Path
    data: str
    statuses: dict[str, str] = field(default_factory=dict)  # run name -> reused | resumed | trained
    results: dict[str, ConfigResult] = field(default_factory=dict)
    report: Path | None = None
    figure: Path | None = None
    stopped: bool = False  # max_runs reached before every run finished: no report yet


def default_out(exp: Experiment, budget: str) -> Path:
    return Path("experiments") / f"{exp.name}-{budget}"


def _normal(value):
    return json.loads(json.dumps(value, default=str))


def config_changes(stored: dict, planned: dict, ignore: set[str] = frozenset()) -> list[str]:
    """``key: stored -> planned`` for every training setting that differs (settings that do not change
    the numbers, and ``ignore``, left out)."""
    from dataclasses import fields

    from ..train.config import TrainConfig

    # training settings only: what else the trainer records in config.json is not the table's business
    keys = {f.name for f in fields(TrainConfig)} - NOT_COMPARED - set(ignore)
    stored = {**TrainConfig().to_dict(), **stored}  # a setting newer than the run folder: its default then
    return [
        f"{k}: {stored.get(k)!r} -> {planned.get(k)!r}"
        for k in sorted(keys)
        if _normal(stored.get(k)) != _normal(planned.get(k))
    ]


def run_state(run_dir: Path) -> str:
    """``new`` (nothing there), ``done`` (every epoch in metrics.jsonl + final weights), ``started``
    (a checkpoint to resume from) or ``empty-start`` (a config.json but no checkpoint yet)."""
    from ..train.checkpoint import has_checkpoint

    if not run_dir.exists() or not any(run_dir.iterdir()):
        return "new"
    if (run_dir / DIVERGED_FILE).is_file():
        return "done"  # a result too: the loss became NaN/infinite at these settings
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise CnnlabError(
            f"{run_dir} exists but is not a run folder (no config.json)", "move it away or choose another --out"
        )
    resolved = json.loads(config_file.read_text()).get("resolved", {})
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    if (
        (run_dir / MODEL_FILE).is_file()
        and metrics
        and len(metrics) >= resolved.get("epochs", 1)
        and metrics[-1].get("step") == resolved.get("steps", metrics[-1].get("step"))
    ):
        return "done"
    return "started" if has_checkpoint(run_dir) else "empty-start"


def planned_config(run: PlannedRun, data: str, runs_dir: Path, progress: bool) -> dict:
    cfg = {**run.train, "data": data, "out": str(runs_dir / run.name), "progress": progress}
    if run.config.init_from is not None:
        cfg["init_weights"] = str((runs_dir / f"{run.config.init_from}-s{run.seed}" / MODEL_FILE).resolve())
    return cfg


def check_runs(exp: Experiment, runs: list[PlannedRun], out: Path, data: str) -> dict[str, str]:
    """The state of every planned run; a run folder made with other settings is a CnnlabError."""
    from ..train.config import TrainConfig

    plan_file = out / PLAN_FILE
    recorded = json.loads(plan_file.read_text()).get("runs", {}) if plan_file.is_file() else {}
    states = {}
    for run in runs:
        run_dir = out / "runs" / run.name
        state = run_state(run_dir)
        states[run.name] = state
        if state == "new":
            continue
        old = recorded.get(run.name)
        if old is not None and _normal(old) != _normal(run.record()):
            raise CnnlabError(
                f"{run_dir} was trained as {old}, the {exp.name} table now says {run.record()}",
                f"use another --out, or delete {run_dir} to train it again",
            )
        stored = json.loads((run_dir / "config.json").read_text())
        planned = TrainConfig.from_dict(planned_config(run, data, out / "runs", False)).to_dict()
        ignore = {"init_weights"} if run.config.init_from else set()  # the path follows OUT; plan.json names it
        changes = config_changes(stored, planned, ignore)
        if changes:
            raise CnnlabError(
                f"{run_dir} was trained with other settings than the {exp.name} table's ({'; '.join(changes)})",
                f"use another --out for the new settings, or delete {run_dir} to retrain it",
            )
    return states


def write_plan(
    out: Path, exp: Experiment, budget: str, data: str, overrides: dict | None, subset: Subset | None, runs
) -> None:
    """OUT/plan.json: what each run is, the runs of earlier invocations kept."""
    plan_file = out / PLAN_FILE
    previous = json.loads(plan_file.read_text()).get("runs", {}) if plan_file.is_file() else {}
    write_json(
        plan_file,
        {
            "experiment": exp.name,
            "budget": budget,
            "data": data,
            "overrides": overrides or {},
            "subset": (subset or Subset()).to_dict(),
            "runs": {**previous, **{r.name: r.record() for r in runs}},
        },
    )


def train_run(
    run: PlannedRun, state: str, dataset, data: str, out: Path, head: str, progress: bool, say: Callable[[str], None]
) -> str:
    """Resume or train one planned run; its status (``resumed``, ``trained`` or ``diverged``)."""
    from ..train import train
    from ..train.config import TrainConfig
    from ..train.trainer import NonFiniteLoss

    run_dir = out / "runs" / run.name
    try:
        if state == "started":
            say(f"{head}: resuming {run_dir}")
            train(resume=run_dir, dataset=dataset, progress=progress)
            return "resumed"
        say(f"{head}: training {run.config.model} ({run.subset.describe()}) -> {run_dir}")
        cfg = planned_config(run, data, out / "runs", progress)
        train(TrainConfig.from_dict({**cfg, "overwrite": state == "empty-start"}), dataset=dataset)
        return "trained"
    except NonFiniteLoss as e:  # a finding, not a failure: recorded, reported, not retried
        write_json(
            run_dir / DIVERGED_FILE,
            {"message": e.message, "epochs_done": len(read_jsonl(run_dir / "metrics.jsonl"))},
        )
        say(f"{head}: diverged ({e.message.split(':')[0]})")
        return "diverged"


def run_experiment(
    experiment: Experiment | str,
    data: str,
    budget: str = "quick",
    seeds: int | None = None,
    out: str | Path | None = None,
    overrides: dict | None = None,
    subset: Subset | None = None,
    progress: bool = True,
    max_runs: int | None = None,
    say: Callable[[str], None] = print,
) -> ExperimentRun:
    """Train (or reuse, or resume) every run of ``experiment`` at ``budget``, then write report.md and figure.png.

    ``data``: the data set spec (``cifar10:PATH``); ``seeds``: seeds per configuration (default the
    budget's); ``overrides``: training settings for every run (``{"epochs": 2}``), recorded in each
    run's config.json and named in the report; ``subset``: a data subset on top of the table's
    (e.g. for a smoke test); ``max_runs``: train at most this many runs, then stop without a report.
    """
    from .catalog import get_experiment

    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    exp.validate()
    runs = exp.plan(budget, seeds, overrides, subset)
    if data.split(":")[0] != exp.data:
        say(
            f"note: {exp.name} is written for {exp.data}; on {data.split(':')[0]} its budgets and expected "
            "times do not hold"
        )
    out = Path(out) if out is not None else default_out(exp, budget)
    out.mkdir(parents=True, exist_ok=True)
    states = check_runs(exp, runs, out, data)
    write_plan(out, exp, budget, data, overrides, subset, runs)
    result = ExperimentRun(exp, budget, out, data)
    loaded = None
    trained = 0
    for i, run in enumerate(runs, 1):
        head = f"[{i}/{len(runs)}] {run.name}"
        if states[run.name] == "done":
            result.statuses[run.name] = "reused"
            say(f"{head}: finished earlier, reused ({out / 'runs' / run.name})")
            continue
        if max_runs is not None and trained >= max_runs:
            result.stopped = True
            say(f"stopped after {trained} run(s) (max_runs); run the same command again to continue")
            return result
        if loaded is None:
            from ..data import load_data

            loaded = load_data(data, exp.data_options, progress=progress)
        from .subsets import apply_subset

        dataset = apply_subset(loaded, run.subset)
        result.statuses[run.name] = train_run(run, states[run.name], dataset, data, out, head, progress, say)
        trained += 1
    result.results = collect(exp, runs, out)
    from .report import write_report

    result.report, result.figure = write_report(result, overrides or {}, subset)
    say(f"report: {result.report}\nfigure: {result.figure}")
    return result


def collect(exp: Experiment, runs: list[PlannedRun], out: Path) -> dict[str, ConfigResult]:
    """Per configuration: its runs read back, parameters and multiply-adds from the analyzer."""
    from ..models import model_card
    from .estimate import model_cost

    results: dict[str, ConfigResult] = {}
    for run in runs:
        rr = RunResult.read(out / "runs" / run.name, run.seed)
        c = run.config
        if c.name not in results:
            files = [r for r in (out / "runs" / p.name / MODEL_FILE for p in runs if p.config is c) if r.is_file()]
            # every seed diverged: no weight file; the card's input size stands in for the data's
            in_chans, side = (
                read_model_meta(files[0])["input_size"] if files else model_card(rr.config["model"]).input_size
            )[::2]
            classes = len(rr.config.get("resolved", {}).get("classes", [])) or exp.num_classes
            cost = model_cost(rr.config["model"], rr.config.get("model_args", {}), int(in_chans), int(side), classes)
            params, macs = cost.params, cost.macs
            results[c.name] = ConfigResult(c, [], params, macs)
        results[c.name].runs.append(rr)
    return results
