"""Statistical baselines over panels: hand-computed naive intervals, ETS/Theta sanity, inputs."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lstmkit.tasks.forecast import statistical
from lstmkit.tasks.forecast.statistical import forecast_panel

Z80, Z95 = stats.norm.ppf(0.9), stats.norm.ppf(0.975)


def test_naive_and_intervals_by_hand():
    y = np.array([1.0, 2.0, 4.0, 7.0])
    fc = forecast_panel({"s": y}, 3, 1, methods=("naive",))["naive"]
    sigma = np.sqrt((1 + 4 + 9) / 3)  # RMS of the lag-1 differences
    steps = np.sqrt([1.0, 2.0, 3.0])
    np.testing.assert_allclose(fc.point[0], [7.0, 7.0, 7.0])
    np.testing.assert_allclose(fc.lower[95][0], 7 - Z95 * sigma * steps, rtol=1e-6)
    np.testing.assert_allclose(fc.upper[80][0], 7 + Z80 * sigma * steps, rtol=1e-6)


def test_seasonal_naive_and_intervals_by_hand():
    y = np.array([3.0, 1.0, 2.0, 5.0, 2.0, 2.0, 4.0, 0.0])  # m = 3, T = 8
    fc = forecast_panel([y], [5], [3], methods=("seasonal_naive",))["seasonal_naive"]
    np.testing.assert_allclose(fc.point[0], [2.0, 4.0, 0.0, 2.0, 4.0])  # y5 y6 y7 y5 y6
    diffs = y[3:] - y[:-3]
    sigma = np.sqrt(np.sum(diffs**2) / (8 - 3))
    widen = np.sqrt(np.floor(np.arange(5) / 3) + 1)  # one more season back every m steps
    np.testing.assert_allclose(fc.upper[95][0], fc.point[0] + Z95 * sigma * widen, rtol=1e-6)
    np.testing.assert_allclose(fc.lower[80][0], fc.point[0] - Z80 * sigma * widen, rtol=1e-6)


def test_per_series_horizons_and_seasons_match_single_runs():
    rng = np.random.default_rng(0)
    panel = {
        "m": 50 + 10 * np.sin(np.arange(60) * 2 * np.pi / 12) + rng.normal(size=60),
        "q": rng.normal(size=30).cumsum() + 20,
        "y": rng.normal(size=12).cumsum() + 5,
    }
    horizons, seasons = {"m": 7, "q": 4, "y": 2}, {"m": 12, "q": 4, "y": 1}
    methods = ("seasonal_naive", "auto_ets", "auto_theta")
    together = forecast_panel(panel, horizons, seasons, methods=methods)
    for method in methods:
        fc = together[method]
        assert fc.ids == ["m", "q", "y"]
        for i, key in enumerate(panel):
            alone = forecast_panel(
                {key: panel[key]}, horizons[key], seasons[key], methods=(method,)
            )
            assert fc.point[i].shape == (horizons[key],)
            np.testing.assert_allclose(fc.point[i], alone[method].point[0], rtol=1e-8)
            np.testing.assert_allclose(fc.upper[95][i], alone[method].upper[95][0], rtol=1e-8)


def test_intervals_nest_around_the_point():
    rng = np.random.default_rng(1)
    panel = [rng.normal(size=40).cumsum() + 30 for _ in range(4)]
    for fc in forecast_panel(panel, 6, 4, methods=statistical.DEFAULT_METHODS).values():
        for i in range(4):
            assert np.all(fc.lower[95][i] <= fc.lower[80][i] + 1e-9)
            assert np.all(fc.lower[80][i] <= fc.point[i] + 1e-9)
            assert np.all(fc.point[i] <= fc.upper[80][i] + 1e-9)
            assert np.all(fc.upper[80][i] <= fc.upper[95][i] + 1e-9)


def test_naive_intervals_cover_random_walks_at_their_level():
    rng = np.random.default_rng(2)
    walks = rng.normal(size=(200, 46)).cumsum(axis=1)
    fc = forecast_panel(list(walks[:, :40]), 6, 1, methods=("naive",))["naive"]
    test = walks[:, 40:]
    inside95 = np.mean((test >= np.array(fc.lower[95])) & (test <= np.array(fc.upper[95])))
    inside80 = np.mean((test >= np.array(fc.lower[80])) & (test <= np.array(fc.upper[80])))
    assert 0.92 <= inside95 <= 0.98
    assert 0.75 <= inside80 <= 0.85


def test_short_series_fall_back_to_season_one():
    y = np.array([4.0, 6.0, 5.0, 8.0])  # shorter than a season of 12
    fc = forecast_panel([y], 3, 12, methods=("seasonal_naive", "naive"))
    np.testing.assert_allclose(fc["seasonal_naive"].point[0], [8.0] * 3)
    np.testing.assert_allclose(fc["seasonal_naive"].upper[95][0], fc["naive"].upper[95][0])


def test_auto_ets_on_a_constant_series_and_a_trend():
    const = np.full(30, 7.5)
    t = np.arange(40.0)
    trend = 3.0 + 2.0 * t + np.random.default_rng(3).normal(scale=0.1, size=40)
    fc = forecast_panel({"c": const, "t": trend}, 5, 1, methods=("auto_ets", "auto_theta"))
    np.testing.assert_allclose(fc["auto_ets"].point[0], 7.5, rtol=1e-6)
    assert np.all(fc["auto_ets"].lower[95][0] <= 7.5 + 1e-6)
    assert np.all(fc["auto_ets"].upper[95][0] >= 7.5 - 1e-6)
    truth = 3.0 + 2.0 * np.arange(40.0, 45.0)
    np.testing.assert_allclose(fc["auto_ets"].point[1], truth, atol=1.0)
    assert np.all(np.diff(fc["auto_theta"].point[1]) > 1.0)  # Theta follows the drift too


def test_auto_ets_beats_seasonal_naive_on_trend_plus_season():
    rng = np.random.default_rng(4)
    t = np.arange(96.0)
    y = 100 + 0.8 * t + 12 * np.sin(2 * np.pi * t / 12) + rng.normal(scale=1.0, size=96)
    fc = forecast_panel([y[:84]], 12, 12, methods=("auto_ets", "seasonal_naive"))
    err = {m: np.mean(np.abs(fc[m].point[0] - y[84:])) for m in fc}
    assert err["auto_ets"] < 0.5 * err["seasonal_naive"]


def test_auto_arima_on_request():
    rng = np.random.default_rng(5)
    y = np.zeros(80)
    for i in range(1, 80):
        y[i] = 0.7 * y[i - 1] + rng.normal()
    fc = forecast_panel([y + 10], 20, 1, methods=("auto_arima",))["auto_arima"]
    assert abs(fc.point[0][-1] - np.mean(y + 10)) < 1.5  # decays towards the mean
    assert "auto_arima" not in statistical.DEFAULT_METHODS


def test_input_forms_agree():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=20).cumsum(), rng.normal(size=15).cumsum()
    frame = pd.DataFrame({"series": ["a"] * 20 + ["b"] * 15, "value": np.concatenate([a, b])})
    runs = [
        forecast_panel({"a": a, "b": b}, [3, 4], 1, methods=("naive",)),
        forecast_panel(frame, {"a": 3, "b": 4}, 1, methods=("naive",)),
        forecast_panel([a, b], [3, 4], [1, 1], methods=("naive",)),
    ]
    assert runs[1]["naive"].ids == ["a", "b"] and runs[2]["naive"].ids == ["0", "1"]
    for run in runs[1:]:
        for i in range(2):
            np.testing.assert_allclose(run["naive"].point[i], runs[0]["naive"].point[i])
            np.testing.assert_allclose(run["naive"].lower[95][i], runs[0]["naive"].lower[95][i])


def test_long_frame_sorted_by_its_time_column():
    frame = pd.DataFrame(
        {
            "id": ["b", "a", "b", "a", "b", "a"],
            "t": [3, 2, 1, 1, 2, 3],
            "v": [30.0, 2.0, 10.0, 1.0, 20.0, 4.0],
        }
    )
    fc = forecast_panel(frame, 1, 1, methods=("naive",), id_col="id", value_col="v", time_col="t")
    assert fc["naive"].ids == ["b", "a"]  # first appearance
    np.testing.assert_allclose([p[0] for p in fc["naive"].point], [30.0, 4.0])
    with pytest.raises(ValueError, match="repeats a 't' value"):
        forecast_panel(frame.assign(t=1), 1, 1, id_col="id", value_col="v", time_col="t")


def test_two_worker_processes_give_the_same_forecasts():
    rng = np.random.default_rng(7)
    panel = [rng.normal(size=36).cumsum() + 20 for _ in range(6)]
    one = forecast_panel(panel, 4, 4, methods=("auto_ets",), threads=1)["auto_ets"]
    two = forecast_panel(panel, 4, 4, methods=("auto_ets",), threads=2)["auto_ets"]
    for i in range(6):
        np.testing.assert_allclose(one.point[i], two.point[i], rtol=1e-10)


def test_missing_statsforecast_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)
    with pytest.raises(ImportError) as err:
        forecast_panel([np.arange(5.0)], 2, 1)
    assert "lstmkit[baselines]" in str(err.value) and "\n" not in str(err.value)
    assert statistical.available() is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": [np.arange(5.0)], "methods": ("prophet",)}, "unknown baseline"),
        ({"train": [np.array([1.0, np.nan, 2.0])]}, "NaN or Inf"),
        ({"train": [np.array([1.0])]}, ">= 2 values"),
        ({"train": [np.arange(5.0)], "horizons": [2, 3]}, "one per series"),
        ({"train": {"a": np.arange(5.0)}, "horizons": {"b": 2}}, "no entry for series 'a'"),
        ({"train": [np.arange(5.0)], "seasons": 0}, "must be an int >= 1"),
        ({"train": [np.arange(5.0)], "levels": (95, 100)}, "in \\(0, 100\\)"),
        ({"train": [], "horizons": 2}, "no series"),
    ],
)
def test_bad_input_is_one_line(kwargs, match):
    args = {"horizons": 2, "seasons": 1, "methods": ("naive",)} | kwargs
    with pytest.raises(ValueError, match=match) as err:
        forecast_panel(**args)
    assert "\n" not in str(err.value)


def tourism_benchmark():
    """benchmarks/tourism_baselines.py as a module, and the tourism data folder beside the repo."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "tourism", root / "benchmarks/tourism_baselines.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = root.parent / "shared" / "data" / "tourism"
    assert (data / "tourism_series.csv").is_file(), f"the tourism data is expected in {data}"
    return module, data


@pytest.mark.slow
def test_tourism_naive_figures_reproduced():
    bench, data = tourism_benchmark()
    rows = bench.run(data, ("naive", "seasonal_naive"), threads=2)
    got = {(r["frequency"], r["method"]): r for r in rows}
    assert got["monthly", "seasonal_naive"]["MASE"] == pytest.approx(1.631, abs=5e-4)
    assert got["quarterly", "seasonal_naive"]["MASE"] == pytest.approx(1.699, abs=5e-4)
    assert got["yearly", "naive"]["MASE"] == pytest.approx(3.007, abs=5e-4)
    assert [r["series"] for r in rows[::2]] == [366, 427, 518]
