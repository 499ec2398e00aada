"""Evaluate a panel: the global model and the baselines on the same points, backtests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmkit.tasks.forecast.panel import Panel
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.panel_task import PanelForecaster
from lstmkit.tasks.forecast.scoring import (
    MethodForecast,
    frequency_name,
    pooled_table,
    score_series,
)

__all__ = ["backtest", "combine", "evaluate_panel", "predictions_table", "score_panel"]

MODEL = "lstmkit"
ENSEMBLE = "ensemble"
# The statistical methods a run compares with when statsforecast is installed.
BASELINES = ("naive", "seasonal_naive", "auto_ets", "auto_theta")


def run_baselines(
    panel: Panel, methods: tuple[str, ...] = BASELINES, threads: int = 1
) -> dict[str, MethodForecast]:
    """The baselines' forecasts of every series' test part, from its training part only."""
    from lstmkit.tasks.forecast.baseline_bridge import statistical_forecasts

    return statistical_forecasts(panel, methods, threads)


def combine(parts: list[MethodForecast]) -> MethodForecast:
    """Per-series ensemble: the mean of the methods' point forecasts and interval bounds
    (the way ES-RNN and the competitions' winners combined methods)."""
    covers = set.intersection(*(set(p.intervals) for p in parts))
    point = [np.mean(v, axis=0) for v in zip(*(p.point for p in parts))]
    intervals = {
        c: tuple(
            [np.mean(v, axis=0) for v in zip(*(p.intervals[c][side] for p in parts))]
            for side in (0, 1)
        )
        for c in sorted(covers)
    }
    return MethodForecast(point, intervals)


def score_panel(panel: Panel, forecasts: dict[str, MethodForecast]) -> pd.DataFrame:
    """One row per series and method: MAE, RMSE, sMAPE, MASE, CRPS, coverage, MSIS."""
    rows = []
    for i, s in enumerate(panel.series):
        if not np.isfinite(s.test).any():
            continue
        for method, fc in forecasts.items():
            row = {"series": s.id, "frequency": frequency_name(s.season), "method": method}
            row["h"] = s.horizon
            row.update(score_series(s.test, s.train, s.season, fc, i))
            rows.append(row)
    if not rows:
        raise ValueError("no series has an observed value in its test part; nothing to score")
    return pd.DataFrame(rows)


def evaluate_panel(
    panel: Panel,
    config: PanelConfig,
    *,
    baselines: bool = True,
    ensemble: bool = False,
    forecaster: PanelForecaster | None = None,
    threads: int = 1,
) -> tuple[PanelForecaster, dict[str, MethodForecast], pd.DataFrame]:
    """Fit the global model (unless given fitted), forecast every test part, run the
    baselines on the same points, and score them all per series.

    ``threads`` is the baselines' worker processes.

    Returns:
        ``(forecaster, forecasts by method, per-series metrics)``.
    """
    forecaster = forecaster or PanelForecaster(config).fit(panel)
    forecasts = {MODEL: forecaster.test_forecast(panel)}
    if baselines:
        forecasts.update(run_baselines(panel, threads=threads))
    if ensemble:
        members = [forecasts[m] for m in (MODEL, "auto_ets", "auto_theta") if m in forecasts]
        if len(members) < 2:
            raise ValueError(
                "--ensemble needs the statistical baselines (install lstmkit[baselines])"
            )
        forecasts[ENSEMBLE] = combine(members)
    return forecaster, forecasts, score_panel(panel, forecasts)


def predictions_table(panel: Panel, forecasts: dict[str, MethodForecast]) -> pd.DataFrame:
    """Long table: one row per series, test step and method, with actual, point, interval
    bounds and (for methods that have them) every quantile."""
    frames = []
    for method, fc in forecasts.items():
        for i, s in enumerate(panel.series):
            h = s.horizon
            frame = pd.DataFrame(
                {"series": s.id, "method": method, "step": np.arange(1, h + 1),
                 "time": s.times[s.n_train :], "actual": s.test, "forecast": fc.point[i]}
            )  # fmt: skip
            for cover, (lo, hi) in sorted(fc.intervals.items()):
                frame[f"lo{cover}"], frame[f"hi{cover}"] = lo[i], hi[i]
            for k, level in enumerate(fc.levels):
                frame[f"q{level:g}"] = fc.quantiles[i][:, k]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def backtest(
    panel: Panel,
    config: PanelConfig,
    origins: int,
    stride: int,
    *,
    baselines: bool = True,
    ensemble: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rolling-origin evaluation with an expanding window.

    Origin k (k = 0 is the latest) ends each series ``k * stride`` values before its end: the
    model is refitted on everything before that origin's horizon and scored on it.

    Returns:
        ``(per-series metrics with an ``origin`` column, pooled table by origin and over
        all origins)``.
    """
    if origins < 1 or stride < 1:
        raise ValueError(f"--origins and --stride must be >= 1, got {origins} and {stride}")
    parts, pooled = [], []
    for k in range(origins - 1, -1, -1):
        sub = panel.truncated(k * stride) if k else panel
        if not sub.series:
            raise ValueError(
                f"origin {k} (cut {k * stride} values) leaves no series long enough; give "
                "fewer --origins or a smaller --stride"
            )
        _, _, scores = evaluate_panel(sub, config, baselines=baselines, ensemble=ensemble)
        scores.insert(0, "origin", k)
        parts.append(scores)
        table = pooled_table(scores)
        table.insert(0, "origin", str(k))
        pooled.append(table)
    per_series = pd.concat(parts, ignore_index=True)
    overall = pooled_table(per_series)
    overall.insert(0, "origin", "all")
    return per_series, pd.concat([*pooled, overall], ignore_index=True)
