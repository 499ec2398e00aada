"""The panel's baselines as MethodForecasts: `statistical.py` (statsforecast) when installed,
else the naive and seasonal-naive point forecasts alone (no intervals)."""

from __future__ import annotations

import numpy as np

from lstmkit.tasks.forecast.baselines import naive, seasonal_naive
from lstmkit.tasks.forecast.panel import Panel
from lstmkit.tasks.forecast.scoring import MethodForecast
from lstmkit.tasks.forecast.windows import interpolate_1d

__all__ = ["statistical_forecasts"]

LEVELS = (80, 95)


def statistical_forecasts(
    panel: Panel, methods: tuple[str, ...], threads: int = 1
) -> dict[str, MethodForecast]:
    """Forecasts of each series' test part by each method, fitted on its training part only
    (statsforecast's ``n_jobs=threads`` processes)."""
    trains = [_filled(s.train) for s in panel.series]
    horizons = [s.horizon for s in panel.series]
    seasons = [s.season for s in panel.series]
    try:
        from lstmkit.tasks.forecast import statistical
    except ImportError:
        statistical = None
    if statistical is None or not _available(statistical):
        return _naive_only(trains, horizons, seasons, methods)
    return _from_statistical(statistical, trains, horizons, seasons, methods, threads)


def _filled(train: np.ndarray) -> np.ndarray:
    """The training part with gaps interpolated and leading missing values dropped."""
    v = interpolate_1d(train)
    return v[np.isfinite(v)]


def _available(module: object) -> bool:
    check = getattr(module, "available", None)
    return bool(check()) if callable(check) else True


def _naive_only(
    trains: list[np.ndarray], horizons: list[int], seasons: list[int], methods: tuple[str, ...]
) -> dict[str, MethodForecast]:
    out = {}
    if "naive" in methods:
        out["naive"] = MethodForecast([naive(t, h) for t, h in zip(trains, horizons)])
    if "seasonal_naive" in methods:
        out["seasonal_naive"] = MethodForecast(
            [
                seasonal_naive(t, h, m if len(t) >= m else 1)
                for t, h, m in zip(trains, horizons, seasons)
            ]
        )
    return out


def _from_statistical(
    module: object,
    trains: list[np.ndarray],
    horizons: list[int],
    seasons: list[int],
    methods: tuple[str, ...],
    threads: int,
) -> dict[str, MethodForecast]:
    out = {}
    for name in methods:
        try:
            fc = module.forecast_panel(
                trains, horizons, seasons, methods=(name,), levels=LEVELS, threads=threads
            )
            out[name] = _method_forecast(fc[name])
        except (ValueError, NotImplementedError, ZeroDivisionError, FloatingPointError):
            out[name] = _one_by_one(module, name, trains, horizons, seasons)
    return out


def _method_forecast(fc: object) -> MethodForecast:
    intervals = {c: (list(fc.lower[c]), list(fc.upper[c])) for c in fc.lower}
    return MethodForecast(list(fc.point), intervals)


def _one_by_one(
    module: object, name: str, trains: list, horizons: list, seasons: list
) -> MethodForecast:
    """``name`` series by series; where statsforecast cannot fit it (AutoETS refuses
    "tiny datasets"), that series gets the naive method's forecast and intervals."""
    parts = []
    for t, h, m in zip(trains, horizons, seasons):
        try:
            fc = module.forecast_panel([t], [h], [m], methods=(name,), levels=LEVELS)[name]
        except (ValueError, NotImplementedError, ZeroDivisionError, FloatingPointError):
            fc = module.forecast_panel([t], [h], [m], methods=("naive",), levels=LEVELS)["naive"]
        parts.append(_method_forecast(fc))
    intervals = {
        c: ([p.intervals[c][0][0] for p in parts], [p.intervals[c][1][0] for p in parts])
        for c in LEVELS
    }
    return MethodForecast([p.point[0] for p in parts], intervals)
