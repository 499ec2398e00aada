"""Probabilistic forecast scores against hand-computed values, brute force and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from lstmkit.metrics import forecast as point
from lstmkit.metrics.probabilistic import (
    crps_from_quantiles,
    crps_from_samples,
    interval_coverage,
    mase,
    msis,
    pinball_loss,
    seasonal_scale,
)


def normal_crps(mu: np.ndarray, sigma: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of N(mu, sigma²) at y (Gneiting et al. 2005)."""
    z = (y - mu) / sigma
    return sigma * (
        z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi)
    )


def brute_crps(y: float, x: np.ndarray, fair: bool = False) -> float:
    """E|X - y| - ½ E|X - X'| with the full N × N double sum."""
    n = len(x)
    pair = np.abs(x[:, None] - x[None, :]).sum() / (n * (n - 1) if fair else n * n)
    return float(np.mean(np.abs(x - y)) - 0.5 * pair)


def test_pinball_by_hand():
    y = [1.0, 2.0]
    q = [[0.5, 1.5], [2.0, 3.0]]
    # (0.1·0.5, 0.1·0.5, 0, 0.1·1) / 4
    assert pinball_loss(y, q, [0.1, 0.9]) == pytest.approx(0.05)


def test_pinball_brute_force_panel():
    rng = np.random.default_rng(11)
    y = rng.normal(size=(5, 7))
    lv = np.sort(rng.uniform(0.01, 0.99, size=4))
    q = rng.normal(size=(5, 7, 4))
    total = 0.0
    for s in range(5):
        for h in range(7):
            for k in range(4):
                u = y[s, h] - q[s, h, k]
                total += lv[k] * u if u >= 0 else (lv[k] - 1) * u
    assert pinball_loss(y, q, lv) == pytest.approx(total / (5 * 7 * 4), rel=1e-12)


def test_pinball_at_median_is_half_mae():
    rng = np.random.default_rng(12)
    y, f = rng.normal(size=(3, 9)), rng.normal(size=(3, 9))
    assert pinball_loss(y, f[..., None], [0.5]) == pytest.approx(0.5 * point.mae(y, f))


def test_crps_of_point_forecast_is_mae():
    rng = np.random.default_rng(13)
    y, f = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    mae = point.mae(y, f)
    assert crps_from_samples(y, f[..., None]) == pytest.approx(mae, rel=1e-12)
    assert crps_from_samples(y, np.repeat(f[..., None], 7, axis=-1)) == pytest.approx(mae)
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    q = np.repeat(f[..., None], len(levels), axis=-1)
    assert crps_from_quantiles(y, q, levels) == pytest.approx(mae, rel=1e-12)


def test_crps_samples_by_hand():
    # samples {0, 2} at y = 1: E|X-y| = 1, E|X-X'| = (0 + 2 + 2 + 0) / 4 = 1
    assert crps_from_samples([1.0], [[0.0, 2.0]]) == pytest.approx(0.5)
    assert crps_from_samples([1.0], [[0.0, 2.0]], fair=True) == pytest.approx(0.0)


@pytest.mark.parametrize("fair", [False, True])
def test_crps_samples_brute_force(fair):
    rng = np.random.default_rng(14)
    y = rng.normal(size=(3, 4))
    x = rng.standard_t(3, size=(3, 4, 25)) * 2 + 0.5
    want = np.mean([brute_crps(y[s, h], x[s, h], fair) for s in range(3) for h in range(4)])
    assert crps_from_samples(y, x, fair=fair) == pytest.approx(want, rel=1e-10)


def integral_crps(y: float, x: np.ndarray) -> float:
    """The definition, ∫ (F(z) - 1{z >= y})² dz, summed exactly over the ECDF's flat pieces."""
    cuts = np.sort(np.append(x, y))
    total = 0.0
    for a, b in itertools.pairwise(cuts):
        f = np.mean(x <= a)
        total += (f - float(a >= y)) ** 2 * (b - a)
    return total


def test_crps_samples_equal_the_integral_definition():
    rng = np.random.default_rng(21)
    for n in (1, 2, 5, 40):
        x = rng.gamma(2.0, size=n)
        for y in (rng.gamma(2.0), x.min() - 1.0, x.max() + 2.0):
            assert crps_from_samples([y], [x]) == pytest.approx(integral_crps(y, x), rel=1e-10)


def test_crps_is_shift_invariant_and_scale_equivariant():
    rng = np.random.default_rng(22)
    y, x = rng.normal(size=(2, 5)), rng.normal(size=(2, 5, 30))
    base = crps_from_samples(y, x)
    assert base > 0
    assert crps_from_samples(y + 7.0, x + 7.0) == pytest.approx(base)
    assert crps_from_samples(3.0 * y, 3.0 * x) == pytest.approx(3.0 * base)
    q = np.sort(x, axis=-1)[..., 2::3]
    lv = np.arange(10) / 10 + 0.05
    assert crps_from_quantiles(3.0 * y - 1, 3.0 * q - 1, lv) == pytest.approx(
        3.0 * crps_from_quantiles(y, q, lv)
    )


def test_crps_samples_ties_and_order_do_not_matter():
    rng = np.random.default_rng(15)
    x = rng.integers(0, 4, size=30).astype(float)  # many ties
    y = 1.5
    perm = rng.permutation(30)
    assert crps_from_samples([y], [x]) == pytest.approx(brute_crps(y, x), rel=1e-12)
    assert crps_from_samples([y], [x[perm]]) == pytest.approx(brute_crps(y, x), rel=1e-12)


def test_crps_samples_approach_normal_closed_form():
    rng = np.random.default_rng(16)
    mu, sigma = rng.normal(size=6), rng.uniform(0.5, 3.0, size=6)
    y = mu + sigma * rng.normal(size=6)
    draws = mu[:, None] + sigma[:, None] * rng.normal(size=(6, 40_000))
    want = float(normal_crps(mu, sigma, y).mean())
    assert crps_from_samples(y, draws) == pytest.approx(want, rel=0.01)


def test_crps_quantiles_approach_normal_closed_form():
    rng = np.random.default_rng(17)
    mu, sigma = rng.normal(size=5), rng.uniform(0.5, 3.0, size=5)
    y = mu + sigma * rng.normal(size=5)
    levels = (np.arange(999) + 0.5) / 999
    q = mu[:, None] + sigma[:, None] * stats.norm.ppf(levels)[None, :]
    want = float(normal_crps(mu, sigma, y).mean())
    assert crps_from_quantiles(y, q, levels) == pytest.approx(want, rel=0.005)


def test_coverage_by_hand_bounds_inclusive():
    y = [1.0, 2.0, 3.0, 4.0]
    assert interval_coverage(y, [1.0, 2.5, 0.0, 0.0], [1.0, 3.0, 2.9, 9.0]) == pytest.approx(0.5)


def test_coverage_brute_force_ragged():
    rng = np.random.default_rng(18)
    ys = [rng.normal(size=n) for n in (3, 8, 5)]
    lo = [r - rng.uniform(0, 1, size=r.size) + rng.normal(size=r.size) for r in ys]
    hi = [a + rng.uniform(0, 2, size=a.size) for a in lo]
    inside = sum(int(lo[i][j] <= ys[i][j] <= hi[i][j]) for i in range(3) for j in range(ys[i].size))
    assert interval_coverage(ys, lo, hi) == pytest.approx(inside / 16)


def test_msis_by_hand():
    insample = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0]  # lag-2 differences all 1: scale 1
    # widths 2; 7 is 2 above (2 + 40·2), 2 is 1 below (2 + 40·1): mean (2 + 82 + 42) / 3
    got = msis([4.0, 7.0, 2.0], [3.0] * 3, [5.0] * 3, insample, season=2, alpha=0.05)
    assert got == pytest.approx(42.0)


def test_msis_brute_force_panel():
    rng = np.random.default_rng(19)
    S, H, T, m, alpha = 4, 6, 20, 4, 0.2
    x = rng.normal(size=(S, T)).cumsum(axis=1)
    y = rng.normal(size=(S, H))
    lo = rng.normal(size=(S, H)) - 1
    hi = lo + rng.uniform(0, 3, size=(S, H))
    per = []
    for s in range(S):
        scale = np.mean([abs(x[s, t] - x[s, t - m]) for t in range(m, T)])
        terms = []
        for h in range(H):
            pen = 0.0
            if y[s, h] < lo[s, h]:
                pen = 2 / alpha * (lo[s, h] - y[s, h])
            elif y[s, h] > hi[s, h]:
                pen = 2 / alpha * (y[s, h] - hi[s, h])
            terms.append(hi[s, h] - lo[s, h] + pen)
        per.append(np.mean(terms) / scale)
    assert msis(y, lo, hi, x, season=m, alpha=alpha) == pytest.approx(np.mean(per), rel=1e-12)
    assert msis(y, lo, hi, list(x), season=m, alpha=alpha) == pytest.approx(np.mean(per))


def test_mase_matches_point_metric_per_series_and_ragged():
    rng = np.random.default_rng(20)
    lengths, horizons, m = (30, 17, 24), (4, 8, 6), 12
    xs = [rng.normal(size=n).cumsum() for n in lengths]
    ys = [rng.normal(size=h) for h in horizons]
    fs = [rng.normal(size=h) for h in horizons]
    want = np.mean([point.mase(y, f, x, m) for y, f, x in zip(ys, fs, xs)])
    assert mase(ys, fs, xs, season=m) == pytest.approx(want, rel=1e-12)
    assert mase(ys[0], fs[0], xs[0], season=m) == pytest.approx(point.mase(ys[0], fs[0], xs[0], m))


def test_scale_fallbacks():
    # an exactly repeating season: lag-2 differences are 0, lag-1 ones are 1
    assert seasonal_scale([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], season=2) == pytest.approx(1.0)
    # shorter than the season: lag 1
    assert seasonal_scale([1.0, 3.0], season=4) == pytest.approx(2.0)
    assert seasonal_scale([5.0, 5.0, 5.0], season=1) == 0.0
    assert mase([5.0], [5.0], [5.0, 5.0, 5.0], season=1) == 0.0
    assert mase([5.0], [6.0], [5.0, 5.0, 5.0], season=1) == math.inf


@pytest.mark.parametrize(
    "call",
    [
        lambda: pinball_loss([1.0, 2.0], [[1.0], [2.0]], [1.2]),
        lambda: pinball_loss([1.0, 2.0], [[1.0, 2.0]], [0.5, 0.6]),
        lambda: pinball_loss([1.0], [[1.0, 2.0]], [0.5]),
        lambda: crps_from_samples([1.0, np.nan], [[1.0], [2.0]]),
        lambda: crps_from_samples([1.0], [[1.0]], fair=True),
        lambda: interval_coverage([1.0], [2.0], [1.0]),
        lambda: msis([1.0], [0.0], [2.0], [1.0, 2.0], season=1, alpha=1.5),
        lambda: mase([1.0], [1.0], [1.0, 2.0], season=0),
        lambda: mase([[1.0], [2.0]], [[1.0], [2.0]], [[1.0, 2.0]], season=1),
    ],
)
def test_bad_input_is_one_clear_value_error(call):
    with pytest.raises(ValueError) as err:
        call()
    assert "\n" not in str(err.value)
