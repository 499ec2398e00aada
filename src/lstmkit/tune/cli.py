"""`lstmkit tune TASK [the task's flags] --trials N ...`: the command line of the search."""

from __future__ import annotations

import argparse

from .registry import SEARCHES, search_for
from .study import PRUNERS, SAMPLERS

__all__ = ["add_tune_options", "add_tune_parser"]


def add_tune_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``tune`` with one subcommand per tunable task (its own flags plus the search's).

    Args:
        subparsers: what ``ArgumentParser.add_subparsers`` returned.

    Returns:
        The ``tune`` parser.
    """
    p = subparsers.add_parser(
        "tune",
        help="search a task's hyperparameters (Optuna: TPE, random, grid; pruning)",
        description="Search a task's hyperparameters with Optuna on a study that several "
        "workers share (SQLite by default, any SQLAlchemy URL with --storage). Each trial "
        "trains through the task's own code and is scored on data held out of its training "
        "part. Writes best.json (`lstmkit TASK train --config best.json`), trials.csv and "
        "the optimisation-history and parameter-importance plots.",
    )
    tasks = p.add_subparsers(dest="tune_task", metavar="TASK", required=True)
    for name in SEARCHES:
        try:
            search = search_for(name)
        except Exception as err:  # one task's broken code must not take the others down
            broken = tasks.add_parser(name, help=f"(cannot load: {err})")
            broken.set_defaults(handler=_cannot_load(name, err))
            continue
        task_parser = search.add_parser(tasks)
        add_tune_options(task_parser.add_argument_group("search"))
        task_parser.set_defaults(handler=run_tune_command, tune_task=name)
    return p


def _cannot_load(name: str, err: Exception):
    def handler(args: argparse.Namespace) -> int:
        raise RuntimeError(f"lstmkit tune {name}: the task's code failed to load: {err!r}")

    return handler


def add_tune_options(group: argparse._ArgumentGroup) -> None:
    """The search's own options (the task's parser already has --seed, --run, --threads)."""
    group.add_argument(
        "--trials", type=int, help="finished trials the study should hold (default 20; grid: "
        "the grid's size); a rerun only adds the missing ones",
    )  # fmt: skip
    group.add_argument("--timeout", type=float, metavar="MIN", help="start no trial after MIN")
    group.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="default tpe")
    group.add_argument("--pruner", choices=PRUNERS, default="median", help="default median")
    group.add_argument("--study", metavar="NAME", help="study name (default: the task's)")
    group.add_argument(
        "--storage", metavar="URL", help="SQLAlchemy URL, e.g. postgresql://user@host/db "
        "(default sqlite:///RUN/study.db); workers anywhere with the same URL share the study",
    )  # fmt: skip
    group.add_argument("--workers", type=int, default=1, help="local worker processes")
    group.add_argument("--space", metavar="FILE", help="TOML/JSON: [space] overrides, [grid]")


def run_tune_command(args: argparse.Namespace) -> int:
    """Handler of ``lstmkit tune TASK``: run the study, print the best trial."""
    from .run import run_study

    result = run_study(args)
    best = result["tune"]
    print(f"best trial #{best['trial']}: {best['metric']} = {best['value']:.6g}")
    for key, value in result["config"].items():
        print(f"  {key} = {value}")
    for name in ("best.json", "trials.csv"):
        print(f"{name.split('.')[0]}: {result['directory']}/{name}")
    for path in result["plots"]:
        print(f"plot: {path}")
    return 0
