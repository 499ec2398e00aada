"""Searching `lstmkit recommend`: a trial is one session model, scored by Recall@k on the
validation sessions (the days before the test days), without the final refit.

The test sessions (the last ``--test-days``) are never used.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from lstmkit.tasks.recommend import cli as recommend_cli
from lstmkit.tune.pruning import record_metric, reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 32, "high": 256, "log": True},
        "embedding_dim": [32, 64, 128],
        "dropout": {"low": 0.0, "high": 0.5},
        "lr": {"low": 5e-4, "high": 1e-2, "log": True},
        "batch_size": [64, 128, 256],
        "steps": [4, 8, 16],
    }
)


def _config(args: argparse.Namespace) -> Any:
    # A trial is scored on the validation sessions, so they must stay out of its training.
    return dataclasses.replace(recommend_cli.build_config(args), refit=False)


def _prepare(args: argparse.Namespace) -> Any:
    from lstmkit.tasks.recommend.report import load_sessions

    train, val, _test = load_sessions(args.csv, _config(args))  # _test is never used
    if len(val) == 0:
        raise ValueError("lstmkit tune recommend needs validation sessions: set --val-days")
    return train, val


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.recommend.task import Recommender

    train, val = data
    config = _config(args)
    metric = record_metric(f"recall@{config.k}")
    with reporting(trial, metric, "maximize") as report:
        Recommender(config).fit(train, val)
    return report.value()


SEARCH = TaskSearch(
    task="recommend",
    space=SPACE,
    metric="val_recall@k",
    direction="maximize",
    add_parser=recommend_cli.add_recommend_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
