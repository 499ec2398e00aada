"""Probabilistic and panel forecast scores: pinball, CRPS, coverage, MSIS and MASE over series.

Conventions shared by every function here:

- ``y`` is one series' test part, shape ``(H,)``, or a panel, shape ``(S, H)``; a ragged
  panel (series of different horizons) is a list of 1-D arrays.
- quantile forecasts and samples put their extra axis last: ``y.shape + (Q,)`` or
  ``y.shape + (N,)`` (for a ragged panel, a list of ``(H_i, Q)`` / ``(H_i, N)`` arrays).
- pointwise scores (pinball, CRPS, coverage) average over every (series, step) point;
  scaled scores (MASE, MSIS) are computed per series with that series' own in-sample scale
  and then averaged over series, as the M3/M4/tourism competitions report them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "crps_from_quantiles",
    "crps_from_samples",
    "interval_coverage",
    "mase",
    "msis",
    "pinball_loss",
    "seasonal_scale",
]


def _rows(a: ArrayLike | Sequence[ArrayLike], name: str, trailing: int = 0) -> list[np.ndarray]:
    """A series, a 2-D panel or a ragged list as a list of finite float64 arrays, one per series.

    ``trailing`` is the number of axes after the time axis (1 for quantiles or samples).
    """
    if isinstance(a, (list, tuple)) and len(a) > 0 and np.ndim(a[0]) == 1 + trailing:
        rows = [np.asarray(r, dtype=np.float64) for r in a]
    else:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim == 1 + trailing:
            rows = [arr]
        elif arr.ndim == 2 + trailing:
            rows = list(arr)
        else:
            want = "(H,) or (S, H)" + (" plus a last axis" if trailing else "")
            raise ValueError(f"{name} has shape {arr.shape}; pass an array of shape {want}")
    for r in rows:
        if r.ndim != 1 + trailing:
            raise ValueError(f"{name} mixes series of different ranks; pass one rank per series")
        if r.size == 0 and trailing == 0:
            raise ValueError(f"{name} holds an empty series; each series needs a value")
        if not np.all(np.isfinite(r)):
            raise ValueError(f"{name} holds NaN or Inf; drop or fill those values first")
    return rows


def _matched(y: list[np.ndarray], other: list[np.ndarray], name: str) -> None:
    """Check that ``other`` has one entry per series of ``y``, each with the same horizon."""
    if len(other) != len(y):
        raise ValueError(f"y has {len(y)} series but {name} has {len(other)}; pass one per series")
    for i, (a, b) in enumerate(zip(y, other)):
        if b.shape[0] != a.shape[0]:
            raise ValueError(
                f"series {i}: y has {a.shape[0]} steps but {name} has {b.shape[0]}; "
                "pass matching horizons"
            )


def _levels(levels: ArrayLike, q: int) -> np.ndarray:
    """Quantile levels as a 1-D array in (0, 1), one per quantile column."""
    lv = np.asarray(levels, dtype=np.float64).reshape(-1)
    if lv.size != q:
        raise ValueError(f"{lv.size} levels for {q} quantile columns; pass one level per column")
    if not np.all((lv > 0) & (lv < 1)):
        raise ValueError(f"quantile levels must lie strictly between 0 and 1, got {lv.tolist()}")
    return lv


def _pinball_points(
    y: ArrayLike, quantile_forecasts: ArrayLike, levels: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Pinball losses of every (point, level), shape (P, Q), and the levels (Q,)."""
    ys = _rows(y, "y")
    qs = _rows(quantile_forecasts, "quantile_forecasts", trailing=1)
    _matched(ys, qs, "quantile_forecasts")
    t = np.concatenate(ys)  # (P,)
    f = np.concatenate(qs, axis=0)  # (P, Q)
    lv = _levels(levels, f.shape[1])
    u = t[:, None] - f  # (P, Q)
    return np.maximum(lv * u, (lv - 1.0) * u), lv


def pinball_loss(y: ArrayLike, quantile_forecasts: ArrayLike, levels: ArrayLike) -> float:
    """Mean pinball (quantile) loss over every point and level.

    For level τ and residual u = y - q_τ the loss is max(τ u, (τ - 1) u); at τ = 0.5 it is
    half the absolute error, so the median's pinball loss is MAE / 2.

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        quantile_forecasts: forecasts, shape ``y.shape + (Q,)`` (or a list of (H_i, Q)).
        levels: the Q quantile levels, each in (0, 1).

    Returns:
        The loss averaged over points and levels, in the units of the series.
    """
    loss, _ = _pinball_points(y, quantile_forecasts, levels)
    return float(loss.mean())


def crps_from_quantiles(y: ArrayLike, quantile_forecasts: ArrayLike, levels: ArrayLike) -> float:
    """CRPS approximated by the quantile score: 2 · mean over levels of the pinball loss.

    CRPS(F, y) = 2 ∫₀¹ pinball_τ(F⁻¹(τ), y) dτ (Laio & Tamea 2007; Gneiting & Raftery 2007);
    this is its equal-weight Riemann sum over the given levels, the estimate GluonTS and the
    M5 uncertainty track use. It is close to the CRPS when the levels are evenly spread over
    (0, 1), e.g. 0.05, 0.10, ..., 0.95, and exact as the grid becomes fine. For a point
    forecast (all quantiles equal) with levels symmetric around 0.5 it equals the MAE.
    Quantiles are scored as given (crossing ones are not sorted).

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        quantile_forecasts: forecasts, shape ``y.shape + (Q,)`` (or a list of (H_i, Q)).
        levels: the Q quantile levels, each in (0, 1).

    Returns:
        The approximate CRPS averaged over points, in the units of the series.
    """
    loss, _ = _pinball_points(y, quantile_forecasts, levels)
    return float(2.0 * loss.mean())


def crps_from_samples(y: ArrayLike, samples: ArrayLike, fair: bool = False) -> float:
    """CRPS of the empirical distribution of samples, exactly, in O(N log N) per point.

    Uses the energy form CRPS = E|X - y| - ½ E|X - X'| with X, X' drawn independently from
    the N samples. The pair term is computed by sorting: Σᵢⱼ |xᵢ - xⱼ| = 2 Σᵢ (2i - N - 1) x₍ᵢ₎
    (i = 1..N over the sorted samples), so no N × N matrix is formed. With one sample (a point
    forecast) the CRPS is the absolute error, so its mean is the MAE.

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        samples: draws, shape ``y.shape + (N,)`` (or a list of (H_i, N)), N >= 1.
        fair: divide the pair term by N (N - 1) instead of N² (the unbiased "fair" CRPS of
            Ferro 2014, for the distribution the samples came from); needs N >= 2.

    Returns:
        The CRPS averaged over points, in the units of the series.
    """
    ys = _rows(y, "y")
    ss = _rows(samples, "samples", trailing=1)
    _matched(ys, ss, "samples")
    t = np.concatenate(ys)  # (P,)
    x = np.sort(np.concatenate(ss, axis=0), axis=1)  # (P, N)
    n = x.shape[1]
    if n == 0 or (fair and n < 2):
        raise ValueError(f"samples has {n} draws per point; pass at least {2 if fair else 1}")
    first = np.mean(np.abs(x - t[:, None]), axis=1)  # E|X - y|, (P,)
    weights = 2.0 * np.arange(1, n + 1) - n - 1.0  # (N,)
    pair_sum = 2.0 * (x @ weights)  # Σᵢⱼ |xᵢ - xⱼ|, (P,)
    pairs = n * (n - 1) if fair else n * n
    return float(np.mean(first - 0.5 * pair_sum / pairs))


def interval_coverage(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actual values inside their prediction interval, bounds included.

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        lower: the interval's lower bounds, same shape.
        upper: the interval's upper bounds, same shape, upper >= lower.

    Returns:
        The coverage in [0, 1] (0.95 is nominal for a 95% interval).
    """
    t, lo, hi = _interval(y, lower, upper)
    inside = (np.concatenate(t) >= np.concatenate(lo)) & (np.concatenate(t) <= np.concatenate(hi))
    return float(np.mean(inside))


def _interval(
    y: ArrayLike, lower: ArrayLike, upper: ArrayLike
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Rows of y and its bounds, checked for matching shapes and lower <= upper."""
    ys, lo, hi = _rows(y, "y"), _rows(lower, "lower"), _rows(upper, "upper")
    _matched(ys, lo, "lower")
    _matched(ys, hi, "upper")
    for i, (a, b) in enumerate(zip(lo, hi)):
        if np.any(a > b):
            raise ValueError(f"series {i}: a lower bound exceeds its upper bound; swap them")
    return ys, lo, hi


def _season(season: int) -> int:
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"season must be an int >= 1, got {season!r}")
    return int(season)


def seasonal_scale(insample: ArrayLike, season: int) -> float:
    """In-sample MAE of the seasonal naive forecast, the denominator of MASE and MSIS.

    scale = mean |y_t - y_{t-m}| over the training part. Fallback (documented convention,
    as GluonTS does for short series): when the series has no more than m values, or all its
    lag-m differences are zero (a series that repeats its season exactly), the lag-1
    differences are used instead; a series constant throughout has scale 0.

    Args:
        insample: the training part of one series, shape (T,), T >= 2.
        season: the seasonal period m (1 for the naive forecast).

    Returns:
        The scale (>= 0), in the units of the series.
    """
    m = _season(season)
    x = _rows(insample, "insample")
    if len(x) != 1:
        raise ValueError("seasonal_scale takes one series; call it once per series")
    x = x[0]
    if x.size < 2:
        raise ValueError(f"insample has {x.size} value; a scale needs at least 2")
    if x.size > m:
        scale = float(np.mean(np.abs(x[m:] - x[:-m])))
        if scale > 0.0:
            return scale
    return float(np.mean(np.abs(np.diff(x))))


def _insample_rows(insample: ArrayLike | Sequence[ArrayLike], n: int) -> list[np.ndarray]:
    rows = _rows(insample, "insample")
    if len(rows) != n:
        raise ValueError(f"y has {n} series but insample has {len(rows)}; pass one per series")
    return rows


def _ratio(num: float, scale: float) -> float:
    """num / scale, with 0/0 = 0 (an exact forecast of a constant series) and x/0 = inf."""
    if scale == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / scale


def mase(
    y: ArrayLike, forecast: ArrayLike, insample: ArrayLike | Sequence[ArrayLike], season: int
) -> float:
    """Mean absolute scaled error (Hyndman & Koehler 2006), averaged over series.

    Per series: MAE of the forecast / ``seasonal_scale(insample, season)`` (with its lag-1
    fallback); a constant training series gives 0 for an exact forecast, else inf.

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        forecast: point forecasts, same shape.
        insample: the training part(s): shape (T,) for one series, or one 1-D array per
            series (a list, lengths may differ, or an (S, T) array).
        season: the seasonal period m.

    Returns:
        The mean over series of each series' MASE (unitless).
    """
    ys, fs = _rows(y, "y"), _rows(forecast, "forecast")
    _matched(ys, fs, "forecast")
    xs = _insample_rows(insample, len(ys))
    per = [
        _ratio(float(np.mean(np.abs(t - f))), seasonal_scale(x, season))
        for t, f, x in zip(ys, fs, xs)
    ]
    return float(np.mean(per))


def msis(
    y: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    insample: ArrayLike | Sequence[ArrayLike],
    season: int,
    alpha: float = 0.05,
) -> float:
    """Mean scaled interval score of the M4 competition, averaged over series.

    Per series (Makridakis et al. 2020, M4 guide):
    MSIS = mean_h [ (U - L) + (2/α)(L - y)·1{y < L} + (2/α)(y - U)·1{y > U} ] / scale,
    with scale = mean |y_t - y_{t-m}| over the training part (``seasonal_scale``, with its
    lag-1 fallback). α = 0.05 scores a 95% interval.

    Args:
        y: actual values, shape (H,), (S, H) or a ragged list of 1-D arrays.
        lower: the (1 - α) interval's lower bounds, same shape.
        upper: its upper bounds, same shape.
        insample: the training part(s), as for ``mase``.
        season: the seasonal period m.
        alpha: the interval's miss rate, in (0, 1).

    Returns:
        The mean over series of each series' MSIS (unitless; lower is better).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    ys, lo, hi = _interval(y, lower, upper)
    xs = _insample_rows(insample, len(ys))
    per = []
    for t, a, b, x in zip(ys, lo, hi, xs):
        score = (b - a) + (2.0 / alpha) * (np.maximum(a - t, 0.0) + np.maximum(t - b, 0.0))
        per.append(_ratio(float(np.mean(score)), seasonal_scale(x, season)))
    return float(np.mean(per))
