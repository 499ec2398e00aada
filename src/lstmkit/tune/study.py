"""The Optuna study behind `lstmkit tune`: storage, sampler, pruner and the worker loop.

Every finished trial is committed to the storage as it ends, so an interrupted run loses
only the trials still running, and rerunning the same command (same ``--storage`` and
``--study``) resumes: ``--trials N`` is the study's total of finished trials.
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import time
from pathlib import Path
from typing import Any

from .registry import TaskSearch
from .space import Param, grid_size

__all__ = [
    "check_storage_url",
    "count_trials",
    "make_pruner",
    "make_sampler",
    "open_study",
    "run_worker",
    "storage_url",
]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")


def optuna_module():
    """Optuna, or a one-line error naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "lstmkit tune needs Optuna: pip install 'lstmkit[tune]' (optuna, sqlalchemy, "
            "psycopg2-binary for PostgreSQL)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def finished_states() -> tuple:
    """The trial states that count towards ``--trials``: complete and pruned."""
    optuna = optuna_module()
    return (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def storage_url(given: str | None, out: Path) -> str:
    """``--storage`` as given, else SQLite in the tune directory (``OUT/study.db``)."""
    if given:
        return given
    out.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{out / 'study.db'}"


def check_storage_url(url: str | None) -> None:
    """Refuse a ``--storage`` URL that SQLAlchemy cannot parse or has no driver for.

    Raises:
        ValueError: naming the URL and what is wrong with it.
    """
    if url is None:
        return
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect()
    except Exception as err:  # sqlalchemy's ArgumentError, NoSuchModuleError, ImportError
        raise ValueError(
            f"--storage {url!r} is not a database URL SQLAlchemy can use ({err}); e.g. "
            "sqlite:///study.db or postgresql://user@host/db"
        ) from None


def make_storage(url: str) -> Any:
    """An RDB storage; SQLite waits for a busy lock instead of failing at once."""
    optuna = optuna_module()
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(5):  # two workers creating the schema at once may collide
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
        except Exception as err:  # sqlalchemy's errors vary by database
            if attempt == 4 or "ImportError" in type(err).__name__:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def make_sampler(name: str, seed: int | None, grid: dict[str, list] | None) -> Any:
    """The Optuna sampler for ``--sampler``."""
    optuna = optuna_module()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        if not grid:
            raise ValueError("--sampler grid needs a [grid] table in the --space file")
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ValueError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def make_pruner(name: str) -> Any:
    """The Optuna pruner for ``--pruner``."""
    optuna = optuna_module()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def open_study(name: str, url: str, direction: str, sampler: Any = None, pruner: Any = None) -> Any:
    """Create the study, or join it when it exists (another worker, an earlier run)."""
    optuna = optuna_module()
    storage = make_storage(url)
    for attempt in range(5):
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                direction=direction,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
            break
        except optuna.exceptions.DuplicatedStudyError:  # created between check and insert
            if attempt == 4:
                raise
            time.sleep(0.5)
    wanted = optuna.study.StudyDirection[direction.upper()]
    if study.direction != wanted:
        raise ValueError(
            f"study {name!r} in {url} was created to {study.direction.name.lower()}, not to "
            f"{direction}: pass another --study"
        )
    return study


def count_trials(study: Any, *, running: bool = False) -> int:
    """Finished trials of the study (with ``running``: also those under way)."""
    optuna = optuna_module()
    states = finished_states() + ((optuna.trial.TrialState.RUNNING,) if running else ())
    return len(study.get_trials(deepcopy=False, states=states))


def grid_space(grid: dict[str, list], space: dict[str, Param]) -> dict[str, Param]:
    """A grid run searches exactly the grid; the space's fixed values still apply."""
    fixed = {k: p for k, p in space.items() if p.kind == "fixed" and k not in grid}
    return {**fixed, **{k: Param(k, choices=tuple(v)) for k, v in grid.items()}}


def run_worker(
    search: TaskSearch,
    args: argparse.Namespace,
    space: dict[str, Param],
    plan: dict[str, Any],
    data: Any = None,
) -> int:
    """One worker: run trials on the shared study until its quota or the study is done.

    Args:
        search: the task's search.
        args: the task's parsed options (each trial sets its parameters on a copy).
        space: the search space.
        plan: ``study``, ``storage``, ``sampler``, ``pruner``, ``seed``, ``grid``,
            ``trials`` (the study's total), ``quota`` (this worker's most), ``deadline``
            (time.time() after which no trial starts, or None) and ``threads``.
        data: what ``search.prepare`` returned, if the caller has it (else prepared here).

    Returns:
        How many trials this worker finished.
    """
    optuna_module()
    import torch

    torch.set_num_threads(plan["threads"])
    sampler = make_sampler(plan["sampler"], plan["seed"], plan["grid"])
    study = open_study(
        plan["study"], plan["storage"], search.direction, sampler, make_pruner(plan["pruner"])
    )
    data = search.prepare(args) if data is None else data
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: Any) -> float:
        from .space import suggest

        trial.set_user_attr("worker", worker)
        trial_args = copy.copy(args)
        for key, value in suggest(trial, space).items():
            setattr(trial_args, key, value)
        trial_args.progress = False
        return search.run_trial(trial_args, data, trial)

    done = 0
    for _ in range(plan["quota"]):
        if count_trials(study, running=True) >= plan["trials"]:
            break
        if plan["sampler"] == "grid" and _grid_exhausted(study, plan["grid"]):
            break
        left = None if plan["deadline"] is None else plan["deadline"] - time.time()
        if left is not None and left <= 0:
            break
        study.optimize(objective, n_trials=1, timeout=left, catch=(ValueError,))
        done += 1
    return done


def _grid_exhausted(study: Any, grid: dict[str, list]) -> bool:
    seen = {
        tuple(t.params.get(k) for k in grid)
        for t in study.get_trials(deepcopy=False)
        if t.state.name in ("COMPLETE", "PRUNED", "RUNNING")
    }
    return len(seen) >= grid_size(grid)
