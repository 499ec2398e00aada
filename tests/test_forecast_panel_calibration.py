"""Conformal calibration of the panel model's intervals on the held-out training window."""

from __future__ import annotations

import numpy as np
from panel_data import seasonal_panel
from scipy.stats import norm

from lstmkit.tasks.forecast.calibration import (
    apply_factors,
    conformal_factors,
    interval_coverage_by_level,
)
from lstmkit.tasks.forecast.panel import read_panel
from lstmkit.tasks.forecast.panel_config import DEFAULT_LEVELS, PanelConfig
from lstmkit.tasks.forecast.panel_task import PanelForecaster
from lstmkit.tasks.forecast.scoring import score_series

LEVELS = DEFAULT_LEVELS


def _gaussian_quantiles(shape: tuple[int, int], sigma: float) -> np.ndarray:
    return np.broadcast_to(sigma * norm.ppf(LEVELS), (*shape, len(LEVELS))).copy()


def test_factors_undo_a_known_misscaling_and_reach_nominal_coverage():
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, (400, 12))
    mask = np.ones_like(y, dtype=bool)
    q = _gaussian_quantiles(y.shape, 2.0)  # intervals twice too wide
    factors = conformal_factors(q, y, mask, LEVELS)
    assert factors[4] == 1.0 and factors[0] == factors[-1]
    np.testing.assert_allclose(factors[[0, 1, 2, 3]], 0.5, atol=0.05)
    # Fresh points from the same noise: each interval's coverage is near its nominal.
    fresh = rng.normal(0, 1, y.shape)
    cover = interval_coverage_by_level(apply_factors(q, factors, 4), fresh, mask, LEVELS)
    for name, nominal in {"50": 0.5, "80": 0.8, "90": 0.9, "95": 0.95}.items():
        assert abs(cover[name] - nominal) < 0.015, (name, cover)


def test_factor_is_the_conformal_rank_of_the_scores():
    # Median 0, 95% interval [-1, 1]: the scores are |y|; with n = 39, rank ceil(0.95 * 40) = 38.
    y = np.arange(1, 40, dtype=np.float64)[:, None] / 10
    q = np.zeros((39, 1, len(LEVELS)))
    q[..., 0], q[..., -1] = -1.0, 1.0
    q[..., 1:4], q[..., 5:8] = -0.5, 0.5
    factors = conformal_factors(q, y, np.ones_like(y, dtype=bool), LEVELS)
    assert factors[0] == factors[-1] == 3.8
    # Too few points for a level leaves it alone (n = 10 < 0.95 / 0.05 for the 95% interval).
    few = conformal_factors(q[:10], y[:10], np.ones((10, 1), dtype=bool), LEVELS)
    assert few[0] == few[-1] == 1.0 and few[3] != 1.0


def test_rescaled_quantiles_keep_the_median_and_never_cross():
    rng = np.random.default_rng(1)
    q = np.sort(rng.normal(0, 1, (20, 6, len(LEVELS))), axis=-1)
    out = apply_factors(q, rng.uniform(0.1, 3.0, len(LEVELS)), 4)
    np.testing.assert_array_equal(out[..., 4], q[..., 4])
    assert (np.diff(out, axis=-1) >= 0).all()


def _coverage95(forecaster: PanelForecaster, panel) -> float:
    fc = forecaster.test_forecast(panel)
    rows = [score_series(s.test, s.train, 12, fc, i) for i, s in enumerate(panel.series)]
    return float(np.mean([r["coverage95"] for r in rows]))


def test_a_known_noise_panel_moves_to_nominal_coverage():
    # A briefly trained model's intervals are far off; on the held-out last horizon of the
    # training parts the conformal factor brings the test coverage near 95%. (No test point
    # can be read: windows and the calibration window end before each test part, which
    # tests/test_forecast_panel.py checks by poisoning the test values.)
    df = seasonal_panel(n_series=120, noise=0.1, seed=3)
    panel = read_panel(df, id_col="sid", time_col="date", target="y", horizon=12)
    base = {"hidden_size": 8, "ensemble": 1, "refit": False, "steps_per_epoch": 10}
    raw = PanelForecaster(PanelConfig(max_steps=20, calibrate=False, **base)).fit(panel)
    fixed = PanelForecaster(PanelConfig(max_steps=20, **base)).fit(panel)
    before, after = _coverage95(raw, panel), _coverage95(fixed, panel)
    assert abs(after - 0.95) < 0.03 and abs(after - 0.95) < abs(before - 0.95), (before, after)
    info = fixed.groups[0].calibration
    assert info["coverage_calibrated"]["95"] >= 0.95 and "holdout_mase" in info
