"""Panel windows: per-series scaling fitted on the training part and series-balanced windows.

Every array a window is cut from holds only the values it may read: `PanelWindows` is built
from each series' values before its cut (the validation and test parts are never copied in),
so no window can read a held-out point, whatever the sampling does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmkit.tasks.forecast.panel import PanelSeries, season_phase

__all__ = [
    "PanelWindows",
    "SeriesScale",
    "fit_scales",
    "interpolate_1d",
    "mase_weights",
    "use_log",
]


@dataclass(frozen=True)
class SeriesScale:
    """z = (f(y) - center) / spread with f = log (all-positive panels) or the identity.

    Fitted on one series' training part only: ``center`` is the mean of f(y) there in log
    mode (0 otherwise), ``spread`` the mean |y| there in identity mode (1 in log mode).
    """

    log: bool
    center: float
    spread: float

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Raw values to model units."""
        f = np.log(y) if self.log else y
        return (f - self.center) / self.spread

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Model units back to raw values (quantiles map to quantiles: f is monotone)."""
        f = z * self.spread + self.center
        # exp of a runaway output would overflow; 50 is a factor e^50 beyond the series.
        return np.exp(np.clip(f, None, self.center + 50.0)) if self.log else f


def use_log(train_parts: list[np.ndarray], setting: bool | str) -> bool:
    """Whether to model log values: ``setting``, or for "auto" whether every training value
    of every series is positive (the multiplicative seasonality of sales, visitors, demand)."""
    if setting != "auto":
        return bool(setting)
    return all(np.nanmin(t) > 0 for t in train_parts if np.isfinite(t).any())


def fit_scales(train_parts: list[np.ndarray], log: bool) -> list[SeriesScale]:
    """One `SeriesScale` per series, each fitted on that series' training part alone."""
    scales = []
    for t in train_parts:
        obs = t[np.isfinite(t)]
        if log:
            scales.append(SeriesScale(True, float(np.mean(np.log(obs))), 1.0))
        else:
            spread = float(np.mean(np.abs(obs)))
            scales.append(SeriesScale(False, 0.0, spread if spread > 0 else 1.0))
    return scales


def mase_weights(
    series: list[PanelSeries], cuts: list[int], scales: list[SeriesScale]
) -> np.ndarray:
    """Per series, 1 / its in-sample seasonal-naive MAE in model units (lag 1 when its
    part before the cut holds no more than a season), normalised to mean 1.

    Weighting each window's loss by its series' row makes the training loss the MASE's
    own scaling (N-BEATS and the M4 entries trained on the scaled error): a series with a
    noisy history no longer outweighs a smooth one. Scales are floored at a tenth of their
    median (weights at most 10x the typical). Values before each cut only.
    """
    scale = np.ones(len(series))
    for i, (s, cut, sc) in enumerate(zip(series, cuts, scales)):
        z = sc.forward(interpolate_1d(s.values[:cut]))
        z = z[np.isfinite(z)]
        lag = s.season if len(z) > s.season else 1
        if len(z) > lag:
            scale[i] = float(np.mean(np.abs(z[lag:] - z[:-lag])))
    positive = scale[scale > 0]
    # At most 10x the typical weight: a nearly flat history would otherwise take the batch.
    floor = 0.1 * float(np.median(positive)) if len(positive) else 1.0
    weights = 1.0 / np.maximum(scale, floor)
    return weights / weights.mean()


def interpolate_1d(values: np.ndarray) -> np.ndarray:
    """Fill interior NaNs linearly and trailing ones with the last value; leading NaNs stay
    (the window treats them as padding)."""
    v = np.asarray(values, dtype=np.float64).copy()
    ok = np.isfinite(v)
    if ok.all() or not ok.any():
        return v
    idx = np.arange(len(v))
    first = idx[ok][0]
    v[first:] = np.interp(idx[first:], idx[ok], v[ok])
    return v


class PanelWindows:
    """Input/target windows of a group of series, in model units, relative to each window's
    level (the mean of its last ``level_span`` inputs), so one network fits every scale.

    Args:
        series: the group's series.
        cuts: per series, how many values it may read (its training part, or less for
            validation); values from the cut on are never copied.
        scales: per series, its fitted scale.
        lookback: L, input steps (shorter histories are padded on the left and flagged).
        horizon: H, the longest horizon of the group (shorter ones are masked).
        level_span: inputs averaged into the window's level (the season, at most L).
        relative: subtract the level (False: raw model units, as counts need).
        seasonal_anchor: the targets' anchor is the last season of inputs (the seasonal-naive
            forecast) instead of the flat level, so an output of 0 is seasonal naive and the
            network learns the corrections (direct model only; needs L >= m).
    """

    def __init__(
        self,
        series: list[PanelSeries],
        cuts: list[int],
        scales: list[SeriesScale],
        lookback: int,
        horizon: int,
        level_span: int,
        relative: bool = True,
        seasonal_anchor: bool = False,
    ) -> None:
        self.lookback, self.horizon, self.relative = lookback, horizon, relative
        self.level_span = max(1, min(level_span, lookback))
        self.season = series[0].season
        self.seasonal_anchor = seasonal_anchor and relative and 1 < self.season <= lookback
        width = lookback + max(cuts) + horizon
        self.z = np.full((len(series), width), np.nan)
        self.phase = np.zeros((len(series), width))
        self.first = np.zeros(len(series), dtype=np.int64)
        self.cuts = np.asarray(cuts, dtype=np.int64)
        self.horizons = np.array([s.horizon for s in series], dtype=np.int64)
        for i, (s, cut, sc) in enumerate(zip(series, cuts, scales)):
            z = sc.forward(interpolate_1d(s.values[:cut]))  # the cut: nothing later is read
            self.z[i, lookback : lookback + cut] = z
            ok = np.flatnonzero(np.isfinite(z))
            self.first[i] = ok[0] if len(ok) else cut
            ph = season_phase(s.times[: min(len(s.times), cut + horizon)], s.season)
            self.phase[i, lookback : lookback + len(ph)] = ph

    @property
    def num_features(self) -> int:
        """Per-step inputs: value, observed flag and (seasonal data) sin/cos of the phase."""
        return 2 + (2 if self.season > 1 else 0)

    def ends(self, i: int) -> np.ndarray:
        """Window ends (last input position) of series i whose first target is before its cut."""
        return np.arange(self.first[i], self.cuts[i] - 1)

    def sample(self, rng: np.random.Generator, batch: int) -> tuple:
        """A series-balanced batch: series uniformly, then an end uniformly within the series."""
        trainable = np.flatnonzero(self.cuts - 1 - self.first > 0)
        rows = rng.choice(trainable, size=batch)
        low, high = self.first[rows], self.cuts[rows] - 1
        ends = low + np.floor(rng.random(batch) * (high - low)).astype(np.int64)
        return self.batch(rows, ends)

    def last(self, rows: np.ndarray | None = None) -> tuple:
        """One window per series ending at its last readable value (forecast origin)."""
        rows = np.arange(len(self.cuts)) if rows is None else rows
        return self.batch(rows, self.cuts[rows] - 1)

    def batch(self, rows: np.ndarray, ends: np.ndarray) -> tuple:
        """``(x, y, mask, anchor, rows, future)``: inputs (B, L, F) relative to the level,
        targets (B, H) relative to the anchor, mask (B, H) of targets that exist and lie
        within the series' own horizon, the anchor (B, H) (the level, or the level plus the
        last season's deviations from it), the series positions and the calendar features
        of the target steps (B, H, F - 2), known in advance."""
        L, H = self.lookback, self.horizon
        cols = (L + ends)[:, None] + np.arange(-L + 1, 1)[None, :]
        zin = self.z[rows[:, None], cols]
        seen = np.isfinite(zin)
        level = np.zeros(len(rows))
        if self.relative:
            level = np.nanmean(zin[:, -self.level_span :], axis=1)
        feats = [np.where(seen, zin - level[:, None], 0.0), seen.astype(np.float64)]
        if self.season > 1:
            ang = 2 * np.pi * self.phase[rows[:, None], cols]
            feats += [np.sin(ang), np.cos(ang)]
        x = np.stack(feats, axis=-1)
        tcols = (L + ends + 1)[:, None] + np.arange(H)[None, :]
        future = np.zeros((len(rows), H, 0))
        if self.season > 1:
            ang = 2 * np.pi * self.phase[rows[:, None], tcols]
            future = np.stack([np.sin(ang), np.cos(ang)], axis=-1)
        zt = self.z[rows[:, None], tcols]
        mask = np.isfinite(zt) & (np.arange(H)[None, :] < self.horizons[rows][:, None])
        anchor = np.repeat(level[:, None], H, axis=1)
        if self.seasonal_anchor:
            m = self.season
            last = zin[:, L - m + (np.arange(H) % m)] - level[:, None]
            anchor = anchor + np.where(np.isfinite(last), last, 0.0)
        y = np.where(mask, zt - anchor, 0.0)
        f32 = np.float32
        return x.astype(f32), y.astype(f32), mask, anchor, rows, future.astype(f32)
