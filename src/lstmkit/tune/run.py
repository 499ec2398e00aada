"""Running a study: the space, the parent's study, N local workers, then the report."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from .registry import TaskSearch, search_for
from .report import write_report
from .space import Param, grid_size, read_space_file
from .study import check_storage_url, count_trials, grid_space, open_study, run_worker, storage_url

__all__ = ["run_study", "search_space"]

DEFAULT_TRIALS = 20


def search_space(
    search: TaskSearch, args: argparse.Namespace
) -> tuple[dict[str, Param], dict[str, list] | None]:
    """The task's default space with the ``--space`` file's overrides, and its grid."""
    space, grid = dict(search.space), None
    if args.space:
        given = read_space_file(args.space)
        space.update(given.space)
        grid = given.grid
    if args.sampler == "grid":
        if not grid:
            raise ValueError("--sampler grid needs a --space file with a [grid] table")
        space = grid_space(grid, space)
    unknown = sorted(name for name in space if not hasattr(args, name))
    if unknown:
        raise ValueError(
            f"search space: {unknown} are not options of `lstmkit {search.task}`; name them "
            "by their option destinations (hidden_size for --hidden-size)"
        )
    return space, grid


def run_study(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``lstmkit tune`` from parsed options; returns best.json's dict plus ``directory``.

    Raises:
        ValueError: bad options, or a study that finished no trial.
    """
    search = search_for(args.tune_task)
    space, grid = search_space(search, args)
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"--timeout must be a positive number of minutes, got {args.timeout}")
    total = args.trials if args.trials is not None else (grid_size(grid) if grid else 20)
    if grid and args.sampler == "grid":
        total = min(total, grid_size(grid))
    if total < 1:
        raise ValueError(f"--trials must be at least 1, got {total}")
    out = Path(args.run) if args.run else Path("runs") / f"tune-{search.task}"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--run {out} is a file, not a directory; give a directory for the run")
    check_storage_url(args.storage)
    data = search.prepare(args)  # bad data refused before a study is stored
    url = storage_url(args.storage, out)
    name = args.study or search.task
    study = open_study(name, url, search.direction)  # workers join it
    missing = total - count_trials(study)
    if missing > 0:
        _run_workers(search, args, space, grid, name, url, total, missing, data)
    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        raise ValueError(f"study {name!r} has no completed trial (all pruned or failed)")
    summary = write_report(study, space, out, search.task, search.metric)
    summary["directory"] = str(out)
    return summary


def _run_workers(search, args, space, grid, name, url, total, missing, data) -> None:
    """Start the workers (in this process when one, on ``data``) and wait for them."""
    workers = min(args.workers, missing)
    cores = os.cpu_count() or 1
    threads = max(1, min(args.threads or cores, cores // workers))
    deadline = None if args.timeout is None else time.time() + 60 * args.timeout
    plans = [
        {
            "study": name,
            "storage": url,
            "sampler": args.sampler,
            "pruner": args.pruner,
            "seed": None if args.seed is None else args.seed * 1000 + i,
            "grid": grid,
            "trials": total,
            "quota": missing // workers + (i < missing % workers),
            "deadline": deadline,
            "threads": threads,
        }
        for i in range(workers)
    ]
    if workers == 1:
        run_worker(search, args, space, plans[0], data)
        return
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch
    procs = [
        context.Process(target=_worker_main, args=(search.task, args, space, plan))
        for plan in plans
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} tune worker(s) failed (exit codes {failed})")


def _worker_main(task: str, args: argparse.Namespace, space: dict, plan: dict) -> None:
    run_worker(search_for(task), args, space, plan)
