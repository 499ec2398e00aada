"""`lstmkit forecast ... --id-col COL`: the long-format panel path of the forecast command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from lstmkit.io import atomic_write
from lstmkit.tasks.forecast.panel_config import PanelConfig

__all__ = ["add_panel_options", "is_panel_run", "run_panel"]


def add_panel_options(parser: argparse.ArgumentParser) -> None:
    """The panel flags (used when ``--id-col`` is given, or a run holds a panel model)."""
    g = parser.add_argument_group("panel (long format: one row per series and time)")
    g.add_argument("--id-col", metavar="COL", help="series id column: turns on the panel path")
    g.add_argument("--horizon-col", metavar="COL", help="column holding each series' horizon")
    g.add_argument(
        "--horizons",
        metavar="CSV",
        help="table of per-series horizons: the id column and h (optionally period/season)",
    )
    g.add_argument("--season-col", metavar="COL", help="column with each series' period")
    g.add_argument("--static", nargs="+", metavar="COL", help="static numeric covariates")
    g.add_argument("--model", choices=("quantile", "deepar"), default="quantile",
                   help="direct quantile model (default) or autoregressive DeepAR")  # fmt: skip
    g.add_argument("--likelihood", choices=("gaussian", "student_t", "negative_binomial"),
                   default="student_t", help="deepar: the likelihood head")  # fmt: skip
    g.add_argument("--embedding", type=int, default=0, help="series embedding width (0: none)")
    g.add_argument("--max-steps", type=int, help="optimizer steps per model (default: from data)")
    g.add_argument("--max-minutes", type=float, help="training time budget per group")
    g.add_argument("--no-refit", action="store_true", help="skip the refit on the full train part")
    g.add_argument(
        "--no-calibrate",
        action="store_true",
        help="keep the model's intervals as trained (default: conformal rescaling on the "
        "held-out last horizon of the training parts)",
    )
    g.add_argument("--no-baselines", action="store_true", help="skip the statistical baselines")
    g.add_argument(
        "--combine",
        action="store_true",
        help="add a per-series ensemble: mean of lstmkit, AutoETS and AutoTheta",
    )
    g.add_argument("--origins", type=int, default=3, help="backtest: forecast origins K")
    g.add_argument("--stride", type=int, help="backtest: values between origins (default: H)")


def is_panel_run(args: argparse.Namespace, out: Path) -> bool:
    """Whether this command takes the panel path: --id-col given, or a panel model in ``out``."""
    if getattr(args, "id_col", None):
        return True
    index = out / "artifact.json"
    if args.action == "train" or not index.is_file():
        return False
    try:
        return json.loads(index.read_text()).get("kind") == "forecast-panel"
    except (OSError, ValueError):
        return False


def _config(args: argparse.Namespace) -> PanelConfig:
    given = {
        "hidden_size": args.hidden_size, "num_layers": args.num_layers, "dropout": args.dropout,
        "lr": args.lr, "batch_size": args.batch_size, "ensemble": args.ensemble,
        "patience": args.patience, "lookback": args.lookback, "max_steps": args.max_steps,
    }  # fmt: skip
    switch = {"auto": "auto", "on": True, "off": False}
    return PanelConfig(
        model=args.model,
        likelihood=args.likelihood,
        log=switch[args.log],
        embedding=args.embedding,
        max_minutes=args.max_minutes,
        refit=not args.no_refit,
        calibrate=not args.no_calibrate,
        seed=args.seed,
        progress=args.progress,
        **{k: v for k, v in given.items() if v is not None},
    )


SINGLE_ID = "series"  # the id a single-series backtest gives its one series


def _single_series(args: argparse.Namespace) -> pd.DataFrame:
    """A one-column-per-time CSV (or the embedded dataset) as a panel of one series, so that
    ``forecast backtest`` without --id-col backtests the single-series case the same way."""
    from lstmkit.tasks.forecast.data import DATASETS, TIME_NAMES, dataset_path

    embedded = None if args.csv else DATASETS[args.dataset]
    frame = pd.read_csv(args.csv or dataset_path(args.dataset), float_precision="round_trip")
    if not args.time_column:
        named = [c for c in frame.columns if str(c).lower() in TIME_NAMES]
        if not named:
            raise ValueError("backtest of one series: give --time-column COL (none is named "
                             f"like a time among {list(frame.columns)})")  # fmt: skip
        args.time_column = named[0]
    if not args.target and embedded:
        args.target = embedded["targets"]
    if args.horizon is None and embedded and not (args.horizon_col or args.horizons):
        args.horizon = embedded["horizon"]
    if SINGLE_ID in frame.columns:
        raise ValueError(f"the CSV has a column {SINGLE_ID!r}: give it as --id-col {SINGLE_ID}")
    args.id_col = SINGLE_ID
    return frame.assign(**{SINGLE_ID: Path(args.csv).stem if args.csv else args.dataset})


def _panel(args: argparse.Namespace):
    from lstmkit.tasks.forecast.panel import read_panel

    source = args.csv
    if not args.id_col and args.action == "backtest":
        source = _single_series(args)
    if source is None:
        raise ValueError(
            "the panel path needs --csv LONG.csv (with --id-col, --time-col, --target)"
        )
    if not args.time_column or not args.target or len(args.target) != 1:
        raise ValueError("the panel path needs --time-col COL and one --target COL")
    if args.horizon is None and not (args.horizon_col or args.horizons):
        raise ValueError("give --horizon H, --horizon-col COL or --horizons FILE")
    return read_panel(
        source,
        id_col=args.id_col,
        time_col=args.time_column,
        target=args.target[0],
        horizon=args.horizon,
        horizon_col=args.horizon_col,
        horizons=args.horizons,
        season=args.season,
        season_col=args.season_col,
        static_cols=args.static,
    )


def run_panel(args: argparse.Namespace, out: Path) -> int:
    """Carry out ``lstmkit forecast train|evaluate|predict|backtest`` on a panel."""
    from lstmkit.tasks.forecast.panel_eval import backtest, evaluate_panel
    from lstmkit.tasks.forecast.panel_task import PanelForecaster

    if args.action in ("train", "backtest"):
        cfg, panel = _config(args), _panel(args)
        for note in panel.notes:
            print(f"note: {note}")
        if args.action == "backtest":
            stride = args.stride or max(s.horizon for s in panel.series)
            per, pooled = backtest(
                panel,
                cfg,
                args.origins,
                stride,
                baselines=not args.no_baselines,
                ensemble=args.combine,
            )
            _write_tables(out, per, pooled, "backtest")
            return 0
        forecaster, forecasts, per = evaluate_panel(
            panel,
            cfg,
            baselines=not args.no_baselines,
            ensemble=args.combine,
            threads=args.threads or 1,
        )
        forecaster.save(out)
        _write_outputs(out, panel, forecasts, per, forecaster.seconds)
        return 0
    forecaster = PanelForecaster.load(out)
    if args.action == "evaluate":
        _, forecasts, per = evaluate_panel(
            forecaster.panel,
            forecaster.config,
            baselines=not args.no_baselines,
            forecaster=forecaster,
        )
        _write_outputs(out, forecaster.panel, forecasts, per, None)
        return 0
    table = _future_table(forecaster)
    path = out / "forecast.csv"
    atomic_write(path, table.to_csv(index=False).encode())
    print(table.head(20).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"forecast: {path} ({len(table)} rows)")
    return 0


def _write_tables(out: Path, per: pd.DataFrame, pooled: pd.DataFrame, stem: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{stem}_by_series.csv", per.to_csv(index=False).encode())
    atomic_write(out / f"{stem}.csv", pooled.to_csv(index=False).encode())
    print(format_pooled(pooled))
    print(f"metrics: {out / f'{stem}.csv'} (per series: {out / f'{stem}_by_series.csv'})")


def _write_outputs(out: Path, panel, forecasts: dict, per: pd.DataFrame, seconds) -> None:
    from lstmkit.tasks.forecast.panel_eval import predictions_table
    from lstmkit.tasks.forecast.panel_plots import plot_panel
    from lstmkit.tasks.forecast.scoring import pooled_table

    pooled = pooled_table(per)
    _write_tables(out, per, pooled, "metrics")
    summary = {"pooled": pooled.to_dict(orient="records"), "train_seconds": seconds}
    atomic_write(out / "metrics.json", json.dumps(summary, indent=1).encode())
    preds = predictions_table(panel, forecasts)
    atomic_write(out / "predictions.csv", preds.to_csv(index=False).encode())
    base = next((m for m in ("auto_ets", "seasonal_naive") if m in forecasts), None)
    plot = plot_panel(panel, forecasts, out / "forecast-panel.png", baseline=base)
    print(f"predictions: {out / 'predictions.csv'}")
    print(f"plot: {plot}")


def _future_table(forecaster) -> pd.DataFrame:
    panel, levels = forecaster.panel, forecaster.config.levels
    frames = []
    for s, q in zip(panel.series, forecaster.predict()):
        frame = pd.DataFrame({"series": s.id, "step": range(1, s.horizon + 1)})
        for k, level in enumerate(levels):
            frame[f"q{level:g}"] = q[:, k]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def format_pooled(pooled: pd.DataFrame) -> str:
    """The pooled table as text: mean MASE, sMAPE, sCRPS, MSIS and coverages per method."""
    cols = [c for c in ("origin", "frequency", "method", "series", "MASE", "sMAPE", "sCRPS",
                        "MSIS", "coverage80", "coverage95") if c in pooled]  # fmt: skip
    return pooled[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}")
