"""Forecast metrics and baselines against values computed by hand."""

import math

import numpy as np
import pytest

from lstmkit.metrics import forecast_metrics, mae, mase, r2, rmse, smape
from lstmkit.tasks.forecast import naive, seasonal_naive

Y = np.array([1.0, 2.0, 3.0, 4.0])
P = np.array([2.0, 2.0, 1.0, 4.0])


def test_mae_rmse_by_hand():
    # errors 1, 0, 2, 0
    assert mae(Y, P) == pytest.approx(0.75)
    assert rmse(Y, P) == pytest.approx(math.sqrt(5 / 4))


def test_smape_by_hand_and_zero_pairs():
    # 2|e|/(|y|+|p|): 2/3, 0, 1, 0 -> mean 5/12
    assert smape(Y, P) == pytest.approx(100 * 5 / 12)
    assert smape([0.0, 1.0], [0.0, 1.0]) == 0.0


def test_mase_scales_by_in_sample_seasonal_naive():
    train = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    # lag-1 differences 2, 1, 3, 1 -> 1.75; lag-2 differences 1, 2, 2 -> 5/3
    assert mase(Y, P, train, 1) == pytest.approx(0.75 / 1.75)
    assert mase(Y, P, train, 2) == pytest.approx(0.75 / (5 / 3))


def test_r2_by_hand():
    # SS_tot = 5, SS_res = 5 -> 0
    assert r2(Y, P) == pytest.approx(0.0)
    assert r2(Y, Y) == 1.0


def test_forecast_metrics_keys():
    got = forecast_metrics(Y, P, np.arange(10.0), 1)
    assert list(got) == ["MAE", "RMSE", "sMAPE", "MASE", "R2"]
    assert got["MASE"] == pytest.approx(0.75)


def test_metric_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"y_true has shape \(4,\) but y_pred has shape \(3,\)"):
        mae(Y, P[:3])
    with pytest.raises(ValueError, match="y_pred holds NaN"):
        rmse(Y, [1.0, np.nan, 1.0, 1.0])
    with pytest.raises(ValueError, match="empty"):
        smape([], [])
    with pytest.raises(ValueError, match="season=5 needs more than 5"):
        mase(Y, P, np.arange(5.0), 5)


def test_baselines():
    hist = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert naive(hist, 3).tolist() == [5.0, 5.0, 5.0]
    assert seasonal_naive(hist, 5, 2).tolist() == [4.0, 5.0, 4.0, 5.0, 4.0]
    two = np.column_stack([hist, 10 * hist])
    assert seasonal_naive(two, 2, 3)[:, 1].tolist() == [30.0, 40.0]
    with pytest.raises(ValueError, match="season=7 needs at least 7 past values, got 5"):
        seasonal_naive(hist, 3, 7)
