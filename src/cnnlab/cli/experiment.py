"""``cnnlab experiment list | show NAME | run NAME --data SPEC``: the lectures' experiments.

``run`` trains every configuration x seed of the experiment's table as an ordinary run folder under
``--out`` (default ``experiments/NAME-BUDGET``), reuses finished runs and resumes a started one when
the same command runs again, and writes ``report.md`` and ``figure.png`` there.
"""

from __future__ import annotations

import argparse

from .common import Formatter, parse_assignments


def register(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="run the lectures' experiments (degradation, ReLU vs tanh, ...)",
        description=__doc__,
        formatter_class=Formatter,
    )
    cmds = p.add_subparsers(dest="experiment_command", metavar="ACTION")
    p.set_defaults(func=lambda a: p.print_help() or 2)

    ls = cmds.add_parser("list", help="the experiments, their claims and expected times", formatter_class=Formatter)
    ls.add_argument(
        "--no-estimate",
        action="store_true",
        help="skip the expected-time column (it builds the networks on the meta device: a few seconds)",
    )
    ls.set_defaults(func=cmd_list)

    show = cmds.add_parser(
        "show", help="an experiment's claim, sources, configurations and budgets", formatter_class=Formatter
    )
    show.add_argument("name", help="experiment name (`cnnlab experiment list`)")
    show.set_defaults(func=cmd_show)

    run = cmds.add_parser(
        "run",
        help="train the configurations (reusing finished runs) and write the report",
        formatter_class=Formatter,
        description="Train every configuration x seed, then write report.md and figure.png.\n"
        "Run the same command again after an interruption: finished runs are reused, "
        "a started one resumes.",
    )
    run.add_argument("name", help="experiment name (`cnnlab experiment list`)")
    run.add_argument("--data", required=True, help="the data set, e.g. cifar10:PATH (see `cnnlab experiment show`)")
    run.add_argument(
        "--budget",
        default="quick",
        choices=("quick", "full"),
        help="quick: <= 10 minutes on a 2-core CPU; full: the paper's schedule",
    )
    run.add_argument("--seeds", type=int, default=None, help="seeds per configuration (unset: the budget's, usually 1)")
    run.add_argument("--out", default=None, help="experiment folder (unset: experiments/NAME-BUDGET)")
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change a training setting of every run (e.g. --set epochs=2); named in the report",
    )
    run.add_argument(
        "--train-per-class",
        type=int,
        default=None,
        help="at most this many training images per class (a trial run; named in the report)",
    )
    run.add_argument(
        "--val-per-class",
        type=int,
        default=None,
        help="at most this many held-out images per class (a trial run; named in the report)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--max-runs", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop after N runs
    run.set_defaults(func=cmd_run)


def cmd_list(args) -> int:
    from ..experiments import EXPERIMENTS
    from ..experiments.estimate import estimate_minutes

    for exp in EXPERIMENTS.values():
        est = "" if args.no_estimate else f"  quick ~{estimate_minutes(exp, 'quick'):.0f} min"
        print(f"{exp.name:<13} {exp.title}{est}")
    print(
        "\n`cnnlab experiment show NAME` for the claim, sources and configurations; "
        "`cnnlab experiment run NAME --data cifar10:PATH` to run one."
    )
    return 0


def cmd_show(args) -> int:
    from ..experiments import get_experiment
    from ..experiments.estimate import estimate_run

    exp = get_experiment(args.name)
    print(f"{exp.name}: {exp.title}\n")
    print(f"claim:   {exp.claim}")
    print(f"lecture: {exp.lecture}")
    print(f"paper:   {exp.paper}")
    print(f"data:    {exp.data} (--data {exp.data}:PATH); held-out: {exp.data_options}")
    print(f"compare: {exp.compare.metric.replace('_', ' ')}; figure: {exp.compare.figure}")
    print(f"recipe:  {exp.recipe} + {exp.overrides or 'no changes'}\n")
    print("configurations:")
    for c in exp.configs:
        extra = {**c.model_args, **c.overrides}
        subset = f"  subset: {c.subset.describe()}" if c.subset else ""
        start = f"  from {c.init_from}" if c.init_from else ""
        print(f"  {c.name:<20} {c.model:<15} {extra if extra else ''}{subset}{start}")
    for name, b in exp.budgets.items():
        runs = exp.plan(name)
        minutes = sum(estimate_run(exp, r).seconds for r in runs) / 60
        print(
            f"\nbudget {name}: {len(runs)} runs, expected ~{minutes:,.0f} min on the 2-core machine "
            f"(estimated from measured training rates; see cnnlab.experiments.estimate)"
        )
        print(f"  {b.note}")
    if exp.notes:
        print(f"\nnotes: {exp.notes}")
    return 0


def cmd_run(args) -> int:
    from ..experiments import Subset, run_experiment

    subset = None
    if args.train_per_class is not None or args.val_per_class is not None:
        subset = Subset(per_class=args.train_per_class, val_per_class=args.val_per_class)
    result = run_experiment(
        args.name,
        data=args.data,
        budget=args.budget,
        seeds=args.seeds,
        out=args.out,
        overrides=parse_assignments(args.set, "--set"),
        subset=subset,
        progress=not args.no_progress,
        max_runs=args.max_runs,
    )
    if result.stopped:
        return 3
    counts = {s: list(result.statuses.values()).count(s) for s in ("trained", "resumed", "reused", "diverged")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    print(result.report.read_text().split("**Verdict.** ")[1].split("\n")[0])
    return 0
