"""Conformal calibration of quantile forecasts on a held-out window of the training parts.

Split conformalised quantile regression (Romano, Patterson & Candès 2019), in its scaled
form: for each central interval [q_a, q_(1-a)] of the forecast levels, the conformity score
of an observation y with median m is how far y lies from m in units of the interval's
half-width on its side,

    s = (m - y) / (m - q_a)        if y < m,
    s = (y - m) / (q_(1-a) - m)    otherwise,

so y is inside the interval exactly when s <= 1. On n calibration points the factor c is
the ceil((1 - 2a)(n + 1))-th smallest score, and every forecast interval is rescaled about
its median by c (c < 1 narrows, c > 1 widens): on exchangeable points that gives coverage
>= 1 - 2a. The scores are taken in model units (per-series scaled, logs for positive
panels), so one factor serves every series of a group and every step of its horizon.

The calibration points are the held-out last horizon of each series' training part,
forecast by the members trained without it (the early-stopping phase): no test value is
read. An interval whose level has too few points for its factor (n < (1 - 2a) / (2a))
keeps c = 1.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["apply_factors", "conformal_factors", "interval_coverage_by_level"]

# Half-widths below this (model units) count as this much, so a score stays finite.
_TINY = 1e-9


def _pairs(levels: tuple[float, ...]) -> list[tuple[int, int]]:
    """Index pairs (a, 1 - a) of the central intervals among ``levels`` (sorted)."""
    out = []
    for lo, level in enumerate(levels):
        if level >= 0.5:
            break
        hi = next((k for k, v in enumerate(levels) if abs(v + level - 1) < 1e-9), None)
        if hi is not None:
            out.append((lo, hi))
    return out


def _scores(q: np.ndarray, y: np.ndarray, lo: int, hi: int, mid: int) -> np.ndarray:
    m = q[:, mid]
    below = (m - y) / np.maximum(m - q[:, lo], _TINY)
    above = (y - m) / np.maximum(q[:, hi] - m, _TINY)
    return np.where(y < m, below, above)


def conformal_factors(
    quantiles: np.ndarray, actual: np.ndarray, mask: np.ndarray, levels: tuple[float, ...]
) -> np.ndarray:
    """One rescaling factor per level (1 at the median and unpaired levels).

    Args:
        quantiles: (B, H, Q) forecasts of the calibration points.
        actual: (B, H) their values, in the same units.
        mask: (B, H) which points exist.
        levels: the Q sorted levels, including 0.5.
    """
    q = quantiles[mask]
    y = actual[mask]
    mid = levels.index(0.5)
    factors = np.ones(len(levels))
    for lo, hi in _pairs(levels):
        alpha = levels[lo] + 1 - levels[hi]
        rank = math.ceil((1 - alpha) * (len(y) + 1))
        if rank > len(y):
            continue  # too few points for this level: left as the model gave it
        s = np.sort(_scores(q, y, lo, hi, mid))
        factors[lo] = factors[hi] = max(float(s[rank - 1]), 0.0)
    return factors


def apply_factors(quantiles: np.ndarray, factors: np.ndarray, mid: int) -> np.ndarray:
    """Quantiles (..., Q) with each level's distance from the median rescaled by its factor,
    then sorted along the levels (separate factors could make adjacent levels cross)."""
    centre = quantiles[..., mid : mid + 1]
    out = centre + (quantiles - centre) * factors
    return np.sort(out, axis=-1)


def interval_coverage_by_level(
    quantiles: np.ndarray, actual: np.ndarray, mask: np.ndarray, levels: tuple[float, ...]
) -> dict[str, float]:
    """Share of the masked points inside each central interval, keyed by its coverage in
    percent ("80", "95", ...)."""
    q, y = quantiles[mask], actual[mask]
    out = {}
    for lo, hi in _pairs(levels):
        cover = round(100 * (levels[hi] - levels[lo]))
        out[str(cover)] = float(np.mean((q[:, lo] <= y) & (y <= q[:, hi])))
    return out
