"""Searching `lstmkit forecast`: a trial is one Forecaster fit, scored on its validation windows.

The validation windows are the last ones of the training part (the Forecaster holds them
out for early stopping); the test part, the last ``horizon`` rows, is never seen.
"""

from __future__ import annotations

import argparse
import copy
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


def _config(args: argparse.Namespace) -> tuple[str, Any]:
    """`lstmkit forecast train`'s (source, config), with ForecastConfig's value for every
    training option left unset (the CLI fills those itself before building the config)."""
    from lstmkit.tasks.forecast.config import ForecastConfig

    defaults, filled = ForecastConfig(), copy.copy(args)
    for name in ("hidden_size", "num_layers", "dropout", "epochs", "patience", "lr",
                 "batch_size", "ensemble"):  # fmt: skip
        if getattr(filled, name, None) is None:
            setattr(filled, name, getattr(defaults, name))
    return forecast_cli.config_from_args(filled)


def _prepare(args: argparse.Namespace) -> Any:
    """The series, read and checked once (bad values refused before any study is stored)."""
    from lstmkit.data.validate import check_values
    from lstmkit.tasks.forecast.data import load_series

    source, config = _config(args)
    data = load_series(
        source,
        targets=config.targets,
        covariates=config.covariates,
        time_column=config.time_column,
        encode=config.encode,
    )
    rows = None if data.times is None else [str(t) for t in data.times]
    check_values(data.values, data.columns, what="the series", row_names=rows, allow_nan=True)
    return data


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.forecast.task import Forecaster

    source, config = _config(args)
    with reporting(trial, record_metric("val_loss"), "minimize") as report:
        Forecaster(config).fit(source if data is None else data)
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
