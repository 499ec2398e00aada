"""Searching `lstmkit forecast`: a trial is one Forecaster fit, scored on its validation windows.

The validation windows are the last ones of the training part (the Forecaster holds them
out for early stopping); the test part, the last ``horizon`` rows, is never seen.
"""

from __future__ import annotations

import argparse
from typing import Any

from lstmkit.tasks.forecast import cli as forecast_cli
from lstmkit.tune.pruning import record_metric, reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 8, "high": 128, "log": True},
        "num_layers": {"low": 1, "high": 2},
        "lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "dropout": {"low": 0.0, "high": 0.4},
        "batch_size": [16, 32, 64],
        "lookback": {"low": 6, "high": 48, "step": 6},
        # One model per trial: an ensemble smooths the very differences a search looks for.
        "ensemble": 1,
    }
)


def _add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return forecast_cli.add_forecast_parser(sub)


def _prepare(args: argparse.Namespace) -> Any:
    return None  # the Forecaster reads its CSV in each fit: small, and keeps trials apart


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.forecast.task import Forecaster

    source, config = forecast_cli._config(args)
    with reporting(trial, record_metric("val_loss"), "minimize") as report:
        Forecaster(config).fit(source)
    return report.value()


SEARCH = TaskSearch(
    task="forecast",
    space=SPACE,
    metric="val_loss",
    direction="minimize",
    add_parser=_add_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
