"""Long-format panels: reading, scaling and windows without leaks, the global models, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from panel_data import seasonal_panel

from lstmkit.metrics.forecast import mae
from lstmkit.metrics.probabilistic import pinball_loss
from lstmkit.tasks.forecast.deepar import DeepARNet, deepar_objective, sample_paths
from lstmkit.tasks.forecast.global_model import auto_lookback, fit_group, member_lookbacks
from lstmkit.tasks.forecast.panel import MIN_TRAIN, Panel, read_panel, season_phase
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.panel_eval import combine, evaluate_panel
from lstmkit.tasks.forecast.panel_task import PanelForecaster
from lstmkit.tasks.forecast.quantile_net import masked_pinball, monotone_quantiles
from lstmkit.tasks.forecast.scoring import MethodForecast, score_series
from lstmkit.tasks.forecast.windows import PanelWindows, fit_scales, mase_weights

TINY = {"hidden_size": 8, "ensemble": 1, "refit": False, "steps_per_epoch": 10}


def test_read_sorts_unsorted_times_and_keeps_unequal_lengths():
    df = seasonal_panel(4)
    shuffled = df.sample(frac=1.0, random_state=3)
    p = read_panel(shuffled, id_col="sid", time_col="date", target="y", horizon=6)
    q = read_panel(df, id_col="sid", time_col="date", target="y", horizon=6)
    assert [s.id for s in p.series] == sorted(df["sid"].unique())
    for a, b in zip(p.series, q.series):
        assert a.times.is_monotonic_increasing
        np.testing.assert_array_equal(a.values, b.values)
        assert a.season == 12 and a.horizon == 6
    assert len({len(s.values) for s in p.series}) > 1


def test_duplicates_dropped_with_a_note_and_conflicts_refused():
    df = seasonal_panel(2)
    doubled = pd.concat([df, df.iloc[:3]])
    p = read_panel(doubled, id_col="sid", time_col="date", target="y", horizon=4)
    assert any("3 duplicate rows dropped" in n for n in p.notes)
    clash = df.iloc[:1].assign(y=-1.0)
    with pytest.raises(ValueError, match="two different values at time"):
        read_panel(pd.concat([df, clash]), id_col="sid", time_col="date", target="y", horizon=4)


def test_too_short_series_are_skipped_and_counted():
    df = seasonal_panel(3)
    short = pd.DataFrame({"sid": "tiny", "date": ["2001-01-01", "2001-02-01"], "y": [1.0, 2.0]})
    p = read_panel(pd.concat([df, short]), id_col="sid", time_col="date", target="y", horizon=1)
    assert p.skipped == ["tiny"] and "tiny" not in [s.id for s in p.series]
    assert any("1 series skipped" in n for n in p.notes)
    with pytest.raises(ValueError, match=f"{MIN_TRAIN} or more observed"):
        read_panel(short, id_col="sid", time_col="date", target="y", horizon=1)


def test_per_series_horizons_from_a_column_and_from_a_file(tmp_path):
    df = seasonal_panel(3)
    hs = {"s00": 3, "s01": 5, "s02": 7}
    p = read_panel(df.assign(h=df["sid"].map(hs)), id_col="sid", time_col="date", target="y",
                   horizon_col="h")  # fmt: skip
    assert {s.id: s.horizon for s in p.series} == hs
    table = tmp_path / "h.csv"
    pd.DataFrame({"sid": list(hs), "h": list(hs.values()), "period": "QUARTERLY"}).to_csv(table)
    p = read_panel(df, id_col="sid", time_col="date", target="y", horizons=table)
    assert {s.id: s.horizon for s in p.series} == hs and {s.season for s in p.series} == {4}


def test_missing_columns_and_horizons_are_clear_errors():
    df = seasonal_panel(2)
    with pytest.raises(ValueError, match="no column 'value'"):
        read_panel(df, id_col="sid", time_col="date", target="value", horizon=3)
    with pytest.raises(ValueError, match="has no horizon"):
        read_panel(df, id_col="sid", time_col="date", target="y")


def test_season_from_fractional_years_and_the_calendar_phase():
    t = pd.Index(1979 + np.arange(30) / 12)
    df = pd.DataFrame({"id": "a", "t": t, "y": np.arange(30.0) + 1})
    s = read_panel(df, id_col="id", time_col="t", target="y", horizon=3).series[0]
    assert s.season == 12
    np.testing.assert_allclose(season_phase(t, 12)[:13], np.r_[np.arange(12) / 12, 0.0])
    dates = pd.DatetimeIndex(["2020-03-01", "2020-04-01"])
    np.testing.assert_allclose(season_phase(dates, 12), [2 / 12, 3 / 12])


def test_gaps_of_a_regular_grid_become_missing_values():
    df = pd.DataFrame({"id": "a", "t": [1, 2, 3, 5, 6, 7, 8], "y": [1.0, 2, 3, 5, 6, 7, 8]})
    s = read_panel(df, id_col="id", time_col="t", target="y", horizon=2).series[0]
    assert len(s.values) == 8 and np.isnan(s.values[3])


def _panel(df=None, horizon=12) -> Panel:
    df = seasonal_panel() if df is None else df
    return read_panel(df, id_col="sid", time_col="date", target="y", horizon=horizon)


def test_scales_and_windows_never_read_a_test_point():
    panel = _panel()
    poisoned = Panel(
        [type(s)(s.id, np.r_[s.train, np.full(s.horizon, 1e12)], s.times, s.horizon, s.season)
         for s in panel.series]
    )  # fmt: skip
    for log in (True, False):
        clean = fit_scales([s.train for s in panel.series], log)
        assert fit_scales([s.train for s in poisoned.series], log) == clean
        win = PanelWindows(poisoned.series, [s.n_train for s in poisoned.series], clean, 24, 12, 12)
        rng = np.random.default_rng(0)
        for _ in range(30):
            x, y, mask, *_ = win.sample(rng, 64)
            assert np.abs(x).max() < 1e3 and np.abs(y[mask]).max() < 1e3
        x, *_ = win.last()
        assert np.abs(x).max() < 1e3
    # And the whole fit: forecasts do not change when only the test values do.
    cfg = PanelConfig(max_steps=20, **TINY)
    a = PanelForecaster(cfg).fit(panel).test_forecast()
    b = PanelForecaster(cfg).fit(poisoned).test_forecast()
    for qa, qb in zip(a.quantiles, b.quantiles):
        np.testing.assert_array_equal(qa, qb)


def test_validation_holds_out_the_last_horizon_of_training():
    panel = _panel()
    win = PanelWindows(panel.series, [s.n_train - s.horizon for s in panel.series],
                       fit_scales([s.train for s in panel.series], True), 24, 12, 12)  # fmt: skip
    for i, s in enumerate(panel.series):
        assert win.ends(i).max() + 1 < s.n_train - s.horizon  # first target before the cut
        assert np.isnan(win.z[i, 24 + s.n_train - s.horizon :]).all()


def test_monotone_quantiles_never_cross_and_keep_the_median():
    raw = torch.randn(50, 6, 9) * 5
    q = monotone_quantiles(raw, 4)
    assert (q.diff(dim=-1) >= 0).all()  # softplus steps; float32 may round tiny ones to 0
    torch.testing.assert_close(q[..., 4], raw[..., 4])


def test_masked_pinball_matches_the_numpy_metric():
    rng = np.random.default_rng(1)
    q = np.sort(rng.normal(size=(7, 5, 3)), axis=-1)
    y = rng.normal(size=(7, 5))
    levels = np.array([0.1, 0.5, 0.9])
    mask = np.ones((7, 5), dtype=bool)
    got = masked_pinball(*(torch.tensor(v) for v in (q, y, mask, levels))).item()
    assert got == pytest.approx(pinball_loss(y, q, levels), rel=1e-12)
    mask[:, 3:] = False
    got = masked_pinball(*(torch.tensor(v) for v in (q, y, mask, levels))).item()
    assert got == pytest.approx(pinball_loss(y[:, :3], q[:, :3], levels), rel=1e-12)


def test_crps_of_a_point_forecast_is_its_mae():
    rng = np.random.default_rng(2)
    y, p, train = rng.normal(size=8), rng.normal(size=8), rng.normal(size=30)
    fc = MethodForecast([p], {80: ([p], [p]), 95: ([p], [p])})
    row = score_series(y, train, 4, fc, 0)
    assert row["CRPS"] == pytest.approx(mae(y, p)) and row["MAE"] == pytest.approx(mae(y, p))


def test_intervals_from_quantiles_and_the_ensemble_mean():
    q = np.sort(np.random.default_rng(3).normal(size=(4, 9)), axis=1)
    levels = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)
    fc = MethodForecast.from_quantiles(levels, [q])
    np.testing.assert_array_equal(fc.point[0], q[:, 4])
    np.testing.assert_array_equal(fc.intervals[80][0][0], q[:, 2])
    np.testing.assert_array_equal(fc.intervals[95][1][0], q[:, 8])
    other = MethodForecast([q[:, 0]], {80: ([q[:, 0]], [q[:, 1]]), 95: ([q[:, 0]], [q[:, 3]])})
    both = combine([fc, other])
    np.testing.assert_allclose(both.point[0], (q[:, 4] + q[:, 0]) / 2)
    np.testing.assert_allclose(both.intervals[95][1][0], (q[:, 8] + q[:, 3]) / 2)


def test_deepar_objective_is_the_likelihood_of_the_shifted_window():
    torch.manual_seed(0)
    panel = _panel()
    series = panel.series
    win = PanelWindows(series, [s.n_train for s in series],
                       fit_scales([s.train for s in series], True), 24, 12, 12)  # fmt: skip
    x, y, mask, _, rows, future = win.sample(np.random.default_rng(0), 16)
    batch = tuple(torch.from_numpy(v) for v in (x, y, mask, rows, np.zeros((16, 0), np.float32),
                                                future))  # fmt: skip
    net = DeepARNet(x.shape[-1], "gaussian", hidden_size=8)
    values = torch.cat([batch[0][..., 0], batch[1]], 1)
    seen = torch.cat([batch[0][..., 1], batch[2].float()], 1)
    cal = torch.cat([batch[0][..., 2:], batch[5]], 1)
    inp = torch.cat([values[:, :-1, None], seen[:, :-1, None], cal[:, 1:]], -1)
    out, _ = net.encoder(inp)
    p = net.head(out)
    lp = torch.distributions.Normal(p["mu"], p["sigma"]).log_prob(values[:, 1:])
    keep = seen[:, 1:] > 0
    torch.testing.assert_close(deepar_objective(net, batch, None), -lp[keep].mean())


def test_deepar_sampling_is_reproducible_with_a_seed():
    torch.manual_seed(0)
    net = DeepARNet(4, "student_t", hidden_size=8).eval()
    x, future = torch.randn(3, 10, 4), torch.randn(3, 5, 2)
    rows, static = torch.zeros(3, dtype=torch.long), torch.zeros(3, 0)

    def draw(seed):
        return sample_paths(net, x, future, rows, static, 20, torch.Generator().manual_seed(seed))

    a, b, c = draw(1), draw(1), draw(2)
    assert a.shape == (3, 20, 5)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("likelihood", ["student_t", "negative_binomial"])
def test_deepar_fits_and_forecasts_a_panel(likelihood):
    df = seasonal_panel(6)
    if likelihood == "negative_binomial":
        df = df.assign(y=np.round(df["y"] / 10))
    cfg = PanelConfig(model="deepar", likelihood=likelihood, max_steps=10, samples=20, **TINY)
    fc = PanelForecaster(cfg).fit(_panel(df, horizon=6)).test_forecast()
    for q in fc.quantiles:
        assert q.shape == (6, 9) and np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()
    if likelihood == "negative_binomial":
        assert all((q >= 0).all() for q in fc.quantiles)


def test_global_model_beats_seasonal_naive_on_a_shared_pattern():
    # Seasonal naive repeats last year's season; growing series with one shared pattern let
    # a global model learn the growth from all of them.
    panel = _panel(seasonal_panel(n_series=16, noise=0.1, seed=5, growth=0.03))
    # 200 steps already halve seasonal naive's MASE (600 took 5x the time for 0.49 vs 0.50).
    cfg = PanelConfig(hidden_size=16, ensemble=1, refit=False, max_steps=200)
    per = evaluate_panel(panel, cfg, baselines=False)[2]
    snaive = MethodForecast([np.resize(s.train[-12:], s.horizon) for s in panel.series])
    theirs = np.mean(
        [score_series(s.test, s.train, 12, snaive, i)["MASE"] for i, s in enumerate(panel.series)]
    )
    ours = per.loc[per.method == "lstmkit", "MASE"].mean()
    assert ours < 0.7 * theirs, (ours, theirs)


def test_save_and_load_give_the_same_forecasts(tmp_path):
    panel = _panel(seasonal_panel(4))
    # Two members of different lookbacks, each calibrated with the other: all of it saved.
    cfg = PanelConfig(
        max_steps=10, embedding=3, lookback_scales=(1.0, 2.0), **{**TINY, "ensemble": 2}
    )
    f = PanelForecaster(cfg).fit(panel)
    assert f.groups[0].lookbacks == [24, 48] and f.groups[0].factors is not None
    f.save(tmp_path / "run")
    g = PanelForecaster.load(tmp_path / "run")
    assert g.groups[0].lookbacks == [24, 48]
    np.testing.assert_array_equal(g.groups[0].factors, f.groups[0].factors)
    for a, b in zip(f.predict(), g.predict()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert g.config == f.config


def test_auto_lookback_follows_horizon_and_season():
    assert auto_lookback(24, 12, 300) == 48
    assert auto_lookback(4, 1, 20) == 8
    assert auto_lookback(6, 52, 60) == 60  # capped by the longest training part
    # Members: the lookback times each scale in turn, capped by the longest training part.
    assert member_lookbacks(48, (1.0, 1.5, 2.0), 5, 80) == [48, 72, 80, 48, 72]


def test_fit_group_reproduces_with_a_seed():
    series = _panel(seasonal_panel(4)).series
    cfg = PanelConfig(max_steps=10, **TINY)
    a = fit_group(series, cfg).forecast(series, [s.n_train for s in series], cfg)
    b = fit_group(series, cfg).forecast(series, [s.n_train for s in series], cfg)
    for qa, qb in zip(a, b):
        np.testing.assert_array_equal(qa, qb)


def test_mase_weights_follow_each_series_noise_and_read_only_before_the_cut():
    panel = _panel(seasonal_panel(6))
    series = panel.series
    scales = fit_scales([s.train for s in series], True)
    cuts = [s.n_train for s in series]
    w = mase_weights(series, cuts, scales)
    assert w.shape == (6,) and abs(w.mean() - 1) < 1e-12 and (w > 0).all()
    noisy = [type(s)(s.id, s.values.copy(), s.times, s.horizon, s.season) for s in series]
    rng = np.random.default_rng(0)
    noisy[0].values[: cuts[0]] *= np.exp(rng.normal(0, 0.5, cuts[0]))
    assert mase_weights(noisy, cuts, scales)[0] < w[0] / 2  # a noisier history weighs less
    for s in noisy:
        s.values[s.n_train :] = 1e12  # test points: never read
    np.testing.assert_array_equal(mase_weights(noisy[1:], cuts[1:], scales[1:]),
                                  mase_weights(series[1:], cuts[1:], scales[1:]))  # fmt: skip


def test_weighted_pinball_with_unit_weights_is_the_plain_one():
    q, y = torch.randn(5, 4, 3).sort(-1).values, torch.randn(5, 4)
    mask, levels = torch.rand(5, 4) > 0.3, torch.tensor([0.1, 0.5, 0.9])
    plain = masked_pinball(q, y, mask, levels)
    torch.testing.assert_close(masked_pinball(q, y, mask, levels, torch.ones(5)), plain)
    doubled = masked_pinball(q, y, mask, levels, torch.full((5,), 2.0))
    torch.testing.assert_close(doubled, 2 * plain)
