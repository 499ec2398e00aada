"""Which tasks `lstmkit tune` can search, and what a task supplies to join (one entry here).

A task joins with one line in :data:`SEARCHES` naming a module whose ``SEARCH`` is a
:class:`TaskSearch`: its default space, the metric a trial returns, how to register the
task's own flags under ``lstmkit tune TASK``, and how to train one trial through the task's
normal code. The module is imported only when that task is tuned.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .space import Param

__all__ = ["SEARCHES", "TaskSearch", "search_for"]

# task -> module whose SEARCH is its TaskSearch (its default space and trial, in tune/tasks).
SEARCHES: dict[str, str] = {
    "forecast": "lstmkit.tune.tasks.forecast",
    "classify": "lstmkit.tune.tasks.classify",
    "generate": "lstmkit.tune.tasks.generate",
    "tag": "lstmkit.tune.tasks.tag",
    "translate": "lstmkit.tune.tasks.translate",
    "recommend": "lstmkit.tune.tasks.recommend",
}


@dataclass(frozen=True)
class TaskSearch:
    """What `lstmkit tune` needs from a task.

    Args:
        task: the task's name (its CLI subcommand).
        space: the default search space, keyed by the task's option destinations.
        metric: what a trial returns, e.g. ``"val_loss"`` (from held-out training data,
            never the test part).
        direction: ``"minimize"`` or ``"maximize"``.
        add_parser: registers the task's own parser (its data and model flags) on a
            subparsers action and returns it.
        prepare: ``prepare(args) -> data`` loads what every trial trains on, once per worker.
        run_trial: ``run_trial(args, data, report) -> value`` trains one trial with
            ``args`` (the trial's parameters set on them) through the task's code, with
            ``report`` (an epoch-metric callback maker, see :mod:`lstmkit.tune.pruning`)
            around it, and returns the metric.
    """

    task: str
    space: dict[str, Param]
    metric: str
    direction: str
    add_parser: Callable[[argparse._SubParsersAction], argparse.ArgumentParser]
    prepare: Callable[[argparse.Namespace], Any]
    run_trial: Callable[..., float]


def search_for(task: str) -> TaskSearch:
    """The :class:`TaskSearch` of ``task``.

    Raises:
        ValueError: the task has no search.
    """
    if task not in SEARCHES:
        raise ValueError(f"no search for task {task!r}; tunable tasks: {', '.join(SEARCHES)}")
    return importlib.import_module(SEARCHES[task]).SEARCH
