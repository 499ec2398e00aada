"""Panel scores: per-series point and probabilistic metrics, pooled by frequency."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmkit.metrics import probabilistic as prob
from lstmkit.metrics.forecast import mae, rmse, smape

__all__ = ["FREQUENCY_NAMES", "MethodForecast", "frequency_name", "pooled_table", "score_series"]

FREQUENCY_NAMES = {
    1: "yearly",
    4: "quarterly",
    12: "monthly",
    52: "weekly",
    7: "daily",
    24: "hourly",
}


def frequency_name(season: int) -> str:
    """A group's label in the tables: its usual name, or m=<season>."""
    return FREQUENCY_NAMES.get(season, f"m={season}")


@dataclass
class MethodForecast:
    """One method's forecasts of a set of series (each array of that series' horizon).

    Attributes:
        point: the point forecasts (the median for the probabilistic models).
        intervals: coverage (80, 95) -> (lower bounds, upper bounds), per series.
        levels: quantile levels of ``quantiles`` (empty when the method has none).
        quantiles: per series, (h, Q) quantile forecasts.
    """

    point: list[np.ndarray]
    intervals: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = field(default_factory=dict)
    levels: tuple[float, ...] = ()
    quantiles: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def from_quantiles(
        cls, levels: tuple[float, ...], quantiles: list[np.ndarray]
    ) -> MethodForecast:
        """Median as the point forecast; the 80%/95% intervals from the matching levels."""
        lv = list(levels)
        idx = {round(v, 6): k for k, v in enumerate(lv)}
        intervals = {}
        for cover in (80, 95):
            lo, hi = round((1 - cover / 100) / 2, 6), round(1 - (1 - cover / 100) / 2, 6)
            if lo in idx and hi in idx:
                intervals[cover] = (
                    [q[:, idx[lo]] for q in quantiles],
                    [q[:, idx[hi]] for q in quantiles],
                )
        mid = idx[0.5]
        return cls([q[:, mid] for q in quantiles], intervals, tuple(lv), quantiles)

    def quantile_view(self, i: int) -> tuple[tuple[float, ...], np.ndarray]:
        """Series i's quantiles: its own, or those its intervals and point imply."""
        if self.quantiles:
            return self.levels, self.quantiles[i]
        levels, cols = [], []
        for cover in sorted(self.intervals, reverse=True):
            levels.append((1 - cover / 100) / 2)
            cols.append(self.intervals[cover][0][i])
        levels.append(0.5)
        cols.append(self.point[i])
        for cover in sorted(self.intervals):
            levels.append(1 - (1 - cover / 100) / 2)
            cols.append(self.intervals[cover][1][i])
        return tuple(levels), np.stack(cols, axis=-1)


def score_series(
    actual: np.ndarray, train: np.ndarray, season: int, fc: MethodForecast, i: int
) -> dict[str, float]:
    """Metrics of series i's forecasts on its observed test points.

    MASE and MSIS are scaled by the in-sample seasonal-naive MAE (lag 1 when the training
    part holds no more than one season); CRPS is from the quantiles (2 x mean pinball over
    the levels), and sCRPS is it divided by the same scale.
    """
    ok = np.isfinite(actual)
    y, p = actual[ok], fc.point[i][ok]
    insample = train[np.isfinite(train)]
    scale = prob.seasonal_scale(insample, season)
    row = {"MAE": mae(y, p), "RMSE": rmse(y, p), "sMAPE": smape(y, p)}
    row["MASE"] = prob.mase(y, p, insample, season)
    levels, q = fc.quantile_view(i)
    crps = prob.crps_from_quantiles(y, q[ok], levels)
    row["CRPS"] = crps
    row["sCRPS"] = crps / scale if scale > 0 else float("nan")
    for cover, (lo, hi) in sorted(fc.intervals.items()):
        row[f"coverage{cover}"] = prob.interval_coverage(y, lo[i][ok], hi[i][ok])
        if cover == 95:
            row["MSIS"] = prob.msis(y, lo[i][ok], hi[i][ok], insample, season, alpha=0.05)
    row["points"] = int(ok.sum())
    return row


def pooled_table(per_series: pd.DataFrame) -> pd.DataFrame:
    """Mean of each metric over series, by frequency and method; coverage pooled over points."""
    rows = []
    for (freq, method), part in per_series.groupby(["frequency", "method"], sort=False):
        row = {"frequency": freq, "method": method, "series": len(part)}
        for col in ("MASE", "sMAPE", "sCRPS", "MSIS", "MAE", "RMSE"):
            if col in part:
                row[col] = float(part[col].mean())
        for col in ("coverage80", "coverage95"):
            if col in part and part[col].notna().any():
                w = part["points"].where(part[col].notna(), 0)
                row[col] = float((part[col].fillna(0) * w).sum() / w.sum())
        rows.append(row)
    return pd.DataFrame(rows)
