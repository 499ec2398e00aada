"""Hyperparameter search over any task that joined :data:`lstmkit.tune.registry.SEARCHES`.

`lstmkit tune TASK [the task's flags] --trials N --sampler tpe|random|grid --pruner
median|hyperband|none --study NAME --storage URL --workers N --space FILE --seed S`, or
:func:`tune` from Python. Optuna does the searching and keeps the study (needs the
``lstmkit[tune]`` extra); each trial trains through the task's own code, and
:class:`lstmkit.tune.pruning.TrialReport`, a Trainer callback, reports the validation
metric after every epoch and stops the trial when its pruner says so.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from .registry import SEARCHES, TaskSearch, search_for
from .space import Param

__all__ = ["SEARCHES", "Param", "TaskSearch", "search_for", "tune"]


def tune(
    task: str,
    task_args: Sequence[str] = (),
    *,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    study: str | None = None,
    storage: str | None = None,
    workers: int = 1,
    space: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    run: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Search ``task``'s hyperparameters; the Python face of ``lstmkit tune``.

    Args:
        task: a tunable task (``"forecast"``, ``"classify"``, ``"generate"``, ``"tag"``,
            ``"translate"``, ``"recommend"``).
        task_args: the task's own flags as on its command line (``["--epochs", "5"]``).
        trials: finished trials the study should hold (default 20, grid: its size).
        timeout: minutes after which no trial starts.
        sampler: ``"tpe"``, ``"random"`` or ``"grid"`` (the grid from ``space``).
        pruner: ``"median"``, ``"hyperband"`` or ``"none"``.
        study: study name (default: the task's).
        storage: SQLAlchemy URL (default SQLite in the run directory).
        workers: local worker processes.
        space: TOML/JSON file with ``[space]`` overrides and a ``[grid]``.
        seed: sampler seed (and the task's, when given).
        run: output directory (default ``runs/tune-TASK``).

    Returns:
        best.json's content (``config``, ``tune``), with ``plots`` and ``directory``.

    >>> tune("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: no search for task 'nope'; tunable tasks: forecast, classify, ...
    """
    from .cli import add_tune_options
    from .run import run_study

    search = search_for(task)
    parser = argparse.ArgumentParser(prog=f"lstmkit.tune.tune({task!r})")
    task_parser = search.add_parser(parser.add_subparsers(dest="tune_task"))
    add_tune_options(task_parser.add_argument_group("search"))
    argv = [task, *task_args, "--sampler", sampler, "--pruner", pruner]
    argv += ["--workers", str(workers)]
    for flag, value in (
        ("--trials", trials), ("--timeout", timeout), ("--study", study),
        ("--storage", storage), ("--space", space), ("--seed", seed), ("--run", run),
    ):  # fmt: skip
        if value is not None:
            argv += [flag, str(value)]
    args = parser.parse_args(argv)
    args.tune_task = task
    return run_study(args)
