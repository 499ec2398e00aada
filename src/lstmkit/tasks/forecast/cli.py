"""`lstmkit forecast [train|predict|evaluate]`: flags onto ForecastConfig, results printed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstmkit.io import atomic_write
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import DATASETS, dataset_path
from lstmkit.tasks.forecast.panel_cli import add_panel_options, is_panel_run, run_panel
from lstmkit.tasks.options import (
    add_nproc_option,
    add_resume_option,
    add_run_options,
    apply_threads,
    checkpoint_folder,
    launch_processes,
    resume_hint,
    run_directory,
    start_training,
)
from lstmkit.train.distributed import is_main_process

if TYPE_CHECKING:  # imported when a command runs, so that `--help` stays fast
    from lstmkit.tasks.forecast.task import Forecaster

__all__ = ["add_forecast_parser", "config_from_args", "format_table", "run_forecast"]

LABELS = {"lstmkit": "lstmkit LSTM", "seasonal_naive": "seasonal naive", "naive": "naive"}
SINGLE_DEFAULTS = ("hidden_size", "num_layers", "dropout", "epochs", "patience", "lr",
                   "batch_size", "ensemble")  # fmt: skip


def add_forecast_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``forecast`` on the top-level parser's subcommands.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers`` returned.

    Returns:
        The new subparser (its handler is ``run_forecast``).
    """
    p = subparsers.add_parser(
        "forecast",
        help="forecast a series from a CSV (default: airline passengers)",
        description="Train an LSTM forecaster on a CSV series, score it against the naive and "
        "seasonal-naive baselines on the last HORIZON rows, and forecast past the end. With "
        "no arguments: train on the embedded airline passengers series.",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="train",
        choices=("train", "predict", "evaluate", "backtest"),
        help="train (default) fits and scores; predict and evaluate load --run/--out; "
        "backtest refits at --origins forecast origins (one series, or a panel with --id-col)",
    )
    _add_data_options(p.add_argument_group("data"))
    _add_model_options(p.add_argument_group("model"))
    out = p.add_argument_group("output")
    out.add_argument("--steps", type=int, help="predict: steps past the end (default: horizon)")
    add_run_options(p, task="forecast", seed=ForecastConfig().seed)
    add_nproc_option(p)
    add_resume_option(p)
    add_panel_options(p)
    p.set_defaults(handler=run_forecast)
    return p


def _add_data_options(src: argparse._ArgumentGroup) -> None:
    src.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        default="airline",
        help="embedded dataset used when --csv is not given (default: airline)",
    )
    src.add_argument("--csv", metavar="PATH", help="your CSV, one row per time step")
    src.add_argument("--target", nargs="+", metavar="COL", help="column(s) to forecast")
    src.add_argument(
        "--covariates",
        nargs="+",
        metavar="COL",
        help="input columns (default: every other numeric column)",
    )
    src.add_argument("--no-covariates", action="store_true", help="univariate: targets only")
    src.add_argument(
        "--time-column", "--time-col", metavar="COL", help="time column (default: detected)"
    )
    src.add_argument("--encode", action="store_true", help="one-hot encode text covariates")


def _add_model_options(model: argparse._ArgumentGroup) -> None:
    model.add_argument("--horizon", type=int, help="steps to forecast = test size")
    model.add_argument("--lookback", type=int, help="input steps (default: from horizon, season)")
    model.add_argument("--season", type=int, help="seasonal period m (default: from the dates)")
    model.add_argument("--log", choices=("auto", "on", "off"), default="auto")
    model.add_argument("--deseasonalize", choices=("auto", "on", "off"), default="auto")
    model.add_argument("--seasonal-diff", action="store_true", help="model z_t - z_{t-m}")
    defaults = ForecastConfig()
    for flag, kind, dest in (
        ("--hidden-size", int, "hidden_size"),
        ("--layers", int, "num_layers"),
        ("--dropout", float, "dropout"),
        ("--epochs", int, "epochs"),
        ("--patience", int, "patience"),
        ("--lr", float, "lr"),
        ("--batch-size", int, "batch_size"),
        ("--ensemble", int, "ensemble"),
    ):
        default = getattr(defaults, dest)
        # None: the single-series default below, or the panel path's own (from the data).
        model.add_argument(flag, type=kind, dest=dest, help=f"default {default} (panels: own)")


def run_forecast(args: argparse.Namespace) -> int:
    """Carry out ``lstmkit forecast``; returns the exit code."""
    from lstmkit.tasks.forecast.task import Forecaster

    launched = launch_processes(args)  # --nproc N: this command again, under torchrun
    if launched is not None:
        return launched
    # One thread by default: these models are small, and on a shared or loaded CPU the
    # threads of one tiny LSTM step mostly wait on each other (airline: 13 s vs 62 s).
    apply_threads(args.threads)
    out = run_directory(args.run, "forecast", Path(args.csv).stem if args.csv else args.dataset)
    if is_panel_run(args, out) or args.action == "backtest":
        return run_panel(args, out)  # a single series is backtested as a panel of one
    defaults = ForecastConfig()
    for dest in SINGLE_DEFAULTS:
        if getattr(args, dest) is None:
            setattr(args, dest, getattr(defaults, dest))
    if args.action == "train":
        resume = start_training(args, out, "forecast")
        source, config = config_from_args(args)
        with resume_hint("forecast", out, args, resume):
            forecaster = Forecaster(config).fit(
                source, checkpoints=lambda m: checkpoint_folder(out, m), resume=resume
            )
        if not is_main_process():
            return 0  # DDP: rank 0 writes the run
        for note in forecaster.data.notes:
            print(f"note: {note}")
        forecaster.save(out)
        _report(forecaster, out)
    elif args.action == "evaluate":
        _report(Forecaster.load(out), out)
    else:
        forecaster = Forecaster.load(out)
        table = forecaster.predict(args.steps)
        path = out / "forecast.csv"
        atomic_write(path, table.to_csv(index_label="time").encode())
        print(table.to_string(float_format=lambda v: f"{v:.4g}"))
        print(f"forecast: {path}")
    return 0


def config_from_args(args: argparse.Namespace) -> tuple[str, ForecastConfig]:
    """``(source, config)`` as `lstmkit forecast train` builds them from its parsed options:
    the CSV path (or the embedded dataset's file) and the ForecastConfig of the dataset's
    preset with the flags over it."""
    preset = {} if args.csv else DATASETS[args.dataset]
    source = args.csv or str(dataset_path(args.dataset))
    covariates = [] if args.no_covariates else (args.covariates or preset.get("covariates"))
    switch = {"auto": "auto", "on": True, "off": False}
    config = ForecastConfig(
        targets=args.target or preset.get("targets"),
        covariates=covariates,
        time_column=args.time_column,
        encode=args.encode,
        horizon=args.horizon if args.horizon is not None else preset.get("horizon", 24),
        lookback=args.lookback,
        season=args.season if args.season is not None else preset.get("season"),
        log=switch[args.log],
        deseasonalize=switch[args.deseasonalize],
        seasonal_diff=args.seasonal_diff,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        dropout=args.dropout,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        batch_size=args.batch_size,
        ensemble=args.ensemble,
        seed=args.seed,
        progress=args.progress,
    )
    return source, config


def _report(forecaster: Forecaster, out: Path) -> None:
    """Score the test part, print the table, write metrics.json and one plot per target."""
    from lstmkit.plots.forecast import plot_forecast

    test = forecaster.test_forecasts()  # once: the table and the plots show the same forecasts
    scores = forecaster.score(test)
    prep = forecaster.prep
    print(format_table(scores, prep.horizon, prep.season))
    atomic_write(out / "metrics.json", json.dumps(scores, indent=1).encode())
    forecasts, actual, train, observed = test
    index = _index(forecaster.data.times, len(forecaster.data.values))
    n_train = len(train)
    for k, name in enumerate(forecaster.data.targets):
        suffix = "" if k == 0 else f"-{name}"
        test_index = index[n_train:]
        plot_forecast(
            pd.Series(train[:, k], index=index[:n_train]),
            pd.Series(np.where(observed[:, k], actual[:, k], np.nan), index=test_index),
            {
                LABELS[label]: pd.Series(fc[:, k], index=test_index)
                for label, fc in forecasts.items()
                if label != "naive"
            },
            out / f"forecast{suffix}.png",
            title=f"{name}: forecast of the last {prep.horizon} points",
            ylabel=name,
        )
    print(f"metrics: {out / 'metrics.json'}")
    print(f"plot: {out / 'forecast.png'}")


def format_table(scores: dict, horizon: int, season: int) -> str:
    """The metric table: one block per target, the model first, then the baselines.

    Args:
        scores: what :meth:`Forecaster.evaluate` returns.
        horizon: test length, for the heading.
        season: m of MASE and seasonal naive, for the heading.

    Returns:
        The table as text.
    """
    lines = []
    for target, rows in scores.items():
        lines.append(f"{target}: test = last {horizon} points, season m = {season}")
        lines.append(f"{'model':<16}{'MAE':>10}{'RMSE':>10}{'sMAPE %':>10}{'MASE':>8}{'R2':>8}")
        for label in ("lstmkit", "seasonal_naive", "naive"):
            v = rows[label]
            lines.append(
                f"{LABELS[label]:<16}{v['MAE']:>10.3f}{v['RMSE']:>10.3f}{v['sMAPE']:>10.2f}"
                f"{v['MASE']:>8.3f}{v['R2']:>8.3f}"
            )
    return "\n".join(lines)


def _index(times: pd.Index | None, n: int) -> pd.Index:
    return pd.RangeIndex(n) if times is None else times
