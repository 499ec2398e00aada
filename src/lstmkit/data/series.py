"""Series pieces every forecaster needs: seasonal period, scaling, seasonal profile, windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "SEASON_BY_FREQ",
    "Standardizer",
    "calendar_step",
    "infer_season",
    "next_times",
    "seasonal_profile",
    "sliding_windows",
]

# The period a calendar frequency implies (hourly data repeats daily, daily data weekly, ...).
SEASON_BY_FREQ = {"min": 60, "h": 24, "D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}


def infer_season(times: pd.DatetimeIndex | None) -> int:
    """The seasonal period m implied by the spacing of the timestamps.

    Minutes give 60, hours 24, days 7, weeks 52, months 12, quarters 4, years 1; irregular
    or missing timestamps give 1 (no season). Pass the period yourself when the data's own
    cycle differs (daily weather repeats yearly: 365).

    Args:
        times: sorted timestamps, or None when the series has no time column.

    Returns:
        The period m >= 1.
    """
    freq = calendar_step(times)
    return 1 if freq is None else SEASON_BY_FREQ[freq]


def calendar_step(times: pd.DatetimeIndex | None) -> str | None:
    """The regular step of the timestamps ("min", "h", "D", "W", "M", "Q", "Y") or None.

    Uses the median gap, so a few missing rows do not hide the frequency (pandas'
    ``infer_freq`` gives up on any gap).
    """
    if times is None or len(times) < 3:
        return None
    days = pd.Series(times).diff().median() / pd.Timedelta(days=1)
    for lo, hi, freq in ((27, 32, "M"), (88, 93, "Q"), (364, 367, "Y"), (6.9, 7.1, "W")):
        if lo <= days <= hi:
            return freq
    for unit, freq in ((1.0, "D"), (1 / 24, "h"), (1 / 1440, "min")):
        if np.isclose(days, unit):
            return freq
    return None


def next_times(times: pd.DatetimeIndex, steps: int) -> pd.DatetimeIndex:
    """The ``steps`` timestamps after the last one, continuing its calendar step."""
    last, freq = times[-1], calendar_step(times)
    months = {"M": 1, "Q": 3, "Y": 12}.get(freq or "")
    if months:
        return pd.DatetimeIndex(
            [last + pd.DateOffset(months=months * i) for i in range(1, steps + 1)]
        )
    step = pd.Series(times).diff().median()
    return pd.DatetimeIndex([last + step * i for i in range(1, steps + 1)])


@dataclass
class Standardizer:
    """Per-column (x - mean) / std, fitted on the training part only so no test value leaks.

    Args:
        mean: per-column means, shape (C,).
        std: per-column standard deviations, shape (C,); a constant column gets 1.

    >>> s = Standardizer.fit(np.array([[1.0], [3.0]]))
    >>> s.transform(np.array([[3.0]])).tolist()
    [[1.0]]
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        """Learn mean and std of each column of ``x`` (shape (T, C))."""
        mean = np.nanmean(x, axis=0)
        std = np.nanstd(x, axis=0)
        # A constant column would divide by zero; leaving it unscaled keeps it constant.
        std = np.where(std > 1e-12, std, 1.0)
        return cls(mean=mean.astype(np.float64), std=std.astype(np.float64))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape (..., C)."""
        return (x - self.mean) / self.std

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return x * self.std + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-safe form, for saving beside the model."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Standardizer:
        """Rebuild from :meth:`to_dict` output."""
        return cls(mean=np.asarray(data["mean"], float), std=np.asarray(data["std"], float))


def seasonal_profile(z: np.ndarray, season: int) -> tuple[np.ndarray, float]:
    """Classical additive decomposition: the average seasonal shape and how strong it is.

    The trend is a centred moving average over one period (2×m for even m); the profile is
    the mean detrended value at each position of the period, centred to sum to zero. For long
    periods (m >= 52: a yearly cycle in weekly or finer data) each position has only a few
    samples, so the profile is smoothed circularly over m/12 positions (about a month).
    Strength is Hyndman's F_S = 1 - Var(remainder) / Var(detrended), in [0, 1].

    Args:
        z: one series, shape (T,), no NaN.
        season: the period m >= 2; needs T >= 2m.

    Returns:
        ``(profile, strength)``: profile of shape (m,) indexed by t mod m, and F_S.
    """
    if season < 2 or len(z) < 2 * season:
        return np.zeros(max(season, 1)), 0.0
    s = pd.Series(z)
    if season % 2:
        trend = s.rolling(season, center=True).mean()
    else:
        trend = s.rolling(season).mean().rolling(2).mean().shift(-(season // 2))
    detrended = z - trend.to_numpy()
    pos = np.arange(len(z)) % season
    profile = np.array([np.nanmean(detrended[pos == i]) for i in range(season)])
    width = season // 12 if season >= 52 else 1
    if width > 1:
        padded = np.concatenate([profile[-width:], profile, profile[:width]])
        smooth = pd.Series(padded).rolling(width, center=True, min_periods=1).mean()
        profile = smooth.to_numpy()[width:-width]
    profile = profile - profile.mean()
    ok = ~np.isnan(detrended)
    remainder = detrended[ok] - profile[pos[ok]]
    var = float(np.var(detrended[ok]))
    strength = 0.0 if var == 0 else max(0.0, 1.0 - float(np.var(remainder)) / var)
    return profile, strength


def sliding_windows(
    x: np.ndarray, y: np.ndarray, ends: np.ndarray, lookback: int, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut (input window, future targets) pairs for direct multi-step forecasting.

    A window ending at index t holds inputs x[t-lookback+1 .. t] and targets y[t+1 .. t+h].

    Args:
        x: inputs, shape (T, F).
        y: targets, shape (T, K).
        ends: last input index of each window, shape (N,); each needs
            lookback - 1 <= t and t + horizon < T.
        lookback: input steps per window.
        horizon: target steps per window.

    Returns:
        ``(inputs, targets)`` of shapes (N, lookback, F) and (N, horizon, K).
    """
    ends = np.asarray(ends, dtype=np.int64)
    if ends.size and (ends.min() < lookback - 1 or ends.max() + horizon >= len(x)):
        raise ValueError(
            f"window ends must lie in [{lookback - 1}, {len(x) - horizon - 1}] for "
            f"lookback={lookback}, horizon={horizon} and {len(x)} steps"
        )
    past = ends[:, None] + np.arange(-lookback + 1, 1)[None, :]  # (N, L)
    future = ends[:, None] + np.arange(1, horizon + 1)[None, :]  # (N, H)
    return x[past], y[future]
