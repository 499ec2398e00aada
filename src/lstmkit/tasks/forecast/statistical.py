"""Statistical baselines over a panel via statsforecast: naive, seasonal naive, ETS, Theta, ARIMA.

Each series is fitted on its own training part (no pooling across series) and forecast
``horizon`` steps with normal prediction intervals, as statsforecast computes them:

- naive: ŷ = y_T, σ_h = σ √h with σ² = Σ (y_t - y_{t-1})² / (T - 1);
- seasonal naive: ŷ_{T+h} = y_{T+h-m⌈h/m⌉}, σ_h = σ √(⌊(h-1)/m⌋ + 1) with
  σ² = Σ (y_t - y_{t-m})² / (T - m);
- AutoETS, AutoTheta, AutoARIMA: the model chosen per series by AICc (ETS, ARIMA) or by
  in-sample MSE (Theta), with their own interval formulas.

A series too short for its season gets season 1 for that method (seasonal naive needs
T >= m, the fitted models T >= 2m, two full seasons to estimate a seasonal pattern).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

__all__ = [
    "DEFAULT_METHODS",
    "METHODS",
    "PanelForecast",
    "available",
    "forecast_panel",
    "statsforecast_module",
]

EXTRA = "baselines"
METHODS = ("naive", "seasonal_naive", "auto_ets", "auto_theta", "auto_arima")
# AutoARIMA's stepwise search costs ~10-50x ETS on long monthly series: asked for, not default.
DEFAULT_METHODS = ("naive", "seasonal_naive", "auto_ets", "auto_theta")
DEFAULT_LEVELS = (80, 95)


@dataclass
class PanelForecast:
    """One method's forecasts of every series of a panel, in the panel's order.

    Attributes:
        ids: the series' ids, length S.
        point: S arrays, series i's point forecasts, shape (h_i,).
        lower: level (e.g. 80, 95) -> S arrays of lower bounds, shape (h_i,).
        upper: level -> S arrays of upper bounds, shape (h_i,).
    """

    ids: list[str]
    point: list[np.ndarray]
    lower: dict[int, list[np.ndarray]]
    upper: dict[int, list[np.ndarray]]


def statsforecast_module():
    """statsforecast, or an ImportError of one line naming the extra that installs it."""
    try:
        import statsforecast
    except ImportError:
        raise ImportError(
            f"the statistical baselines need statsforecast: pip install 'lstmkit[{EXTRA}]'"
        ) from None
    return statsforecast


def available() -> bool:
    """Whether statsforecast can be imported (the ``baselines`` extra is installed)."""
    try:
        statsforecast_module()
    except ImportError:
        return False
    return True


def _model(method: str, season: int):
    """The statsforecast model for ``method`` at season ``season``, aliased by its name."""
    from statsforecast import models

    if method == "naive":
        return models.Naive(alias=method)
    if method == "seasonal_naive":
        return models.SeasonalNaive(season_length=season, alias=method)
    if method == "auto_ets":
        return models.AutoETS(season_length=season, alias=method)
    if method == "auto_theta":
        return models.AutoTheta(season_length=season, alias=method)
    return models.AutoARIMA(season_length=season, alias=method)


def _effective_season(method: str, length: int, season: int) -> int:
    """The season a method can use on a training part of ``length`` values."""
    if method == "naive":
        return 1
    need = season if method == "seasonal_naive" else 2 * season
    return season if length >= need else 1


def _per_series(value: int | Sequence[int] | Mapping[str, int], ids: list[str], name: str):
    """An int, a sequence or an id -> int mapping as one int >= 1 per series."""
    if isinstance(value, Mapping):
        missing = [i for i in ids if i not in value]
        if missing:
            raise ValueError(
                f"{name} has no entry for series {missing[0]!r}; give every series one"
            )
        out = [value[i] for i in ids]
    elif isinstance(value, (int, np.integer)):
        out = [value] * len(ids)
    else:
        out = list(value)
        if len(out) != len(ids):
            raise ValueError(f"{len(out)} {name}s for {len(ids)} series; pass one per series")
    for i, v in zip(ids, out):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} of series {i!r} must be an int >= 1, got {v!r}")
    return [int(v) for v in out]


def _series(
    train: Mapping[str, ArrayLike] | Sequence[ArrayLike] | pd.DataFrame,
    id_col: str,
    value_col: str,
    time_col: str | None,
) -> tuple[list[str], list[np.ndarray]]:
    """Series ids and their training parts from a mapping, a list or a long frame."""
    if isinstance(train, pd.DataFrame):
        for col in (id_col, value_col) + ((time_col,) if time_col else ()):
            if col not in train.columns:
                raise ValueError(f"the frame has no column {col!r}; pass id_col/value_col/time_col")
        order = pd.unique(train[id_col])  # series in their order of first appearance
        if time_col:
            if train.duplicated([id_col, time_col]).any():
                raise ValueError(f"a series repeats a {time_col!r} value; keep one row per time")
            train = train.sort_values(time_col, kind="stable")
        parts = {k: g.to_numpy() for k, g in train.groupby(id_col, sort=False)[value_col]}
        ids, values = [str(k) for k in order], [parts[k] for k in order]
    elif isinstance(train, Mapping):
        ids, values = [str(k) for k in train], list(train.values())
    else:
        values = list(train)
        ids = [str(i) for i in range(len(values))]
    if not values:
        raise ValueError("the panel has no series; pass at least one training series")
    arrays = []
    for i, v in zip(ids, values):
        a = np.asarray(v, dtype=np.float64)
        if a.ndim != 1 or a.size < 2:
            raise ValueError(
                f"series {i!r} needs a 1-D training part of >= 2 values, got {a.shape}"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"series {i!r} holds NaN or Inf; fill or drop those values first")
        arrays.append(a)
    return ids, arrays


def _run_group(
    method: str,
    season: int,
    rows: list[int],
    trains: list[np.ndarray],
    h: int,
    levels: list[int],
    threads: int,
) -> pd.DataFrame:
    """statsforecast on the series ``rows`` of one method and season, h steps each."""
    from statsforecast import StatsForecast

    frame = pd.DataFrame(
        {
            "unique_id": np.repeat(np.asarray(rows), [trains[r].size for r in rows]),
            "ds": np.concatenate([np.arange(trains[r].size) for r in rows]),
            "y": np.concatenate([trains[r] for r in rows]),
        }
    )
    sf = StatsForecast(models=[_model(method, season)], freq=1, n_jobs=threads)
    return sf.forecast(df=frame, h=h, level=list(levels))


def forecast_panel(
    train: Mapping[str, ArrayLike] | Sequence[ArrayLike] | pd.DataFrame,
    horizons: int | Sequence[int] | Mapping[str, int],
    seasons: int | Sequence[int] | Mapping[str, int],
    methods: Sequence[str] = DEFAULT_METHODS,
    levels: Sequence[int] = DEFAULT_LEVELS,
    threads: int = 1,
    id_col: str = "series",
    value_col: str = "value",
    time_col: str | None = None,
) -> dict[str, PanelForecast]:
    """Forecast every series of a panel with each statistical method.

    Args:
        train: the training parts: a mapping id -> 1-D array, a list of 1-D arrays (ids
            "0", "1", ...), or a long frame with ``id_col`` and ``value_col``, its rows in
            time order within each series unless ``time_col`` names the column to sort by
            (then a repeated time is refused). Each needs >= 2 finite values.
        horizons: steps to forecast: one int, or one per series (a list or id -> int).
        seasons: the seasonal period m: one int, or one per series (1 for yearly data).
        methods: any of METHODS; AutoARIMA ("auto_arima") is slow on long series.
        levels: the prediction intervals' coverages in percent, e.g. (80, 95).
        threads: worker processes for statsforecast (BLAS is held to one thread each).
        id_col, value_col, time_col: the long frame's columns (``time_col`` optional).

    Returns:
        method -> PanelForecast with S point forecasts and, per level, S lower and upper
        bounds, series i of shape (horizons_i,).

    Raises:
        ImportError: one line naming ``lstmkit[baselines]`` when statsforecast is missing.
        ValueError: one line for an unknown method, a bad level, horizon or season, or a
            series that is too short or not finite.
    """
    statsforecast_module()
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown baseline {bad[0]!r}; choose from {', '.join(METHODS)}")
    levels = sorted(int(lv) for lv in levels)
    if not all(0 < lv < 100 for lv in levels):
        raise ValueError(f"levels are coverages in percent, each in (0, 100), got {levels}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    ids, trains = _series(train, id_col, value_col, time_col)
    hs = _per_series(horizons, ids, "horizon")
    ms = _per_series(seasons, ids, "season")
    return {m: _forecast_method(m, ids, trains, hs, ms, levels, threads) for m in methods}


def _forecast_method(
    method: str,
    ids: list[str],
    trains: list[np.ndarray],
    hs: list[int],
    ms: list[int],
    levels: list[int],
    threads: int,
) -> PanelForecast:
    """One method over the panel: one statsforecast call per distinct season, longest h."""
    from threadpoolctl import threadpool_limits

    seasons = [_effective_season(method, t.size, m) for t, m in zip(trains, ms)]
    point: list[np.ndarray] = [np.empty(0)] * len(ids)
    lower = {lv: [np.empty(0)] * len(ids) for lv in levels}
    upper = {lv: [np.empty(0)] * len(ids) for lv in levels}
    for season in sorted(set(seasons)):
        rows = [i for i, s in enumerate(seasons) if s == season]
        h = max(hs[r] for r in rows)
        # Why silence: statsforecast's optimisers warn on numerical edge cases (flat series,
        # bounds hit) with usable fits, and pytest and the CLI treat any warning as a failure.
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _run_group(method, season, rows, trains, h, levels, threads)
        by_id = dict(tuple(out.groupby("unique_id", sort=False)))
        for r in rows:
            got = by_id[r].sort_values("ds").iloc[: hs[r]]
            point[r] = _finite(got[method].to_numpy(np.float64), method, ids[r])
            for lv in levels:
                lower[lv][r] = _finite(
                    got[f"{method}-lo-{lv}"].to_numpy(np.float64), method, ids[r]
                )
                upper[lv][r] = _finite(
                    got[f"{method}-hi-{lv}"].to_numpy(np.float64), method, ids[r]
                )
    return PanelForecast(ids=list(ids), point=point, lower=lower, upper=upper)


def _finite(a: np.ndarray, method: str, series: str) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{method} gave a non-finite forecast for series {series!r}")
    return a
