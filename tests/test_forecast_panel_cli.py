"""`lstmkit forecast ... --id-col`: train, evaluate, predict, backtest and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from panel_data import seasonal_panel

from lstmkit.cli import main

FAST = ["--max-steps", "10", "--ensemble", "1", "--hidden-size", "8", "--no-refit"]


@pytest.fixture
def long_csv(tmp_path):
    path = tmp_path / "long.csv"
    seasonal_panel(5).sample(frac=1.0, random_state=0).to_csv(path, index=False)
    return path


def _train(path, run, *extra):
    args = ["forecast", "train", "--csv", str(path), "--id-col", "sid", "--time-col", "date"]
    return main([*args, "--target", "y", "--run", str(run), *FAST, *extra])


def test_train_writes_tables_predictions_plot_and_artifact(long_csv, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(long_csv, run, "--horizon", "6", "--no-baselines") == 0
    out = capsys.readouterr().out
    assert "lstmkit" in out and "monthly" in out
    for name in ("artifact.json", "metrics.csv", "metrics_by_series.csv", "predictions.csv",
                 "forecast-panel.png", "metrics.json"):  # fmt: skip
        assert (run / name).is_file(), name
    per = pd.read_csv(run / "metrics_by_series.csv")
    assert len(per) == 5 and {"MASE", "CRPS", "coverage95", "MSIS"} <= set(per.columns)
    preds = pd.read_csv(run / "predictions.csv")
    assert len(preds) == 5 * 6 and (preds["lo95"] <= preds["forecast"]).all()
    assert (preds["q0.025"] <= preds["q0.975"]).all()
    pooled = json.loads((run / "metrics.json").read_text())["pooled"]
    assert pooled[0]["method"] == "lstmkit"


def test_predict_and_evaluate_reload_the_run(long_csv, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(long_csv, run, "--horizon", "6", "--no-baselines") == 0
    first = pd.read_csv(run / "metrics_by_series.csv")
    assert main(["forecast", "evaluate", "--run", str(run), "--no-baselines"]) == 0
    again = pd.read_csv(run / "metrics_by_series.csv")
    np.testing.assert_allclose(first["MASE"], again["MASE"], rtol=1e-6)
    assert main(["forecast", "predict", "--run", str(run)]) == 0
    table = pd.read_csv(run / "forecast.csv")
    assert len(table) == 5 * 6 and "q0.5" in table


def test_backtest_scores_each_origin_and_pools_them(long_csv, tmp_path, capsys):
    run = tmp_path / "bt"
    args = ["forecast", "backtest", "--csv", str(long_csv), "--id-col", "sid", "--time-col",
            "date", "--target", "y", "--horizon", "4", "--origins", "2", "--stride", "3",
            "--no-baselines", "--run", str(run), *FAST]  # fmt: skip
    assert main(args) == 0
    per = pd.read_csv(run / "backtest_by_series.csv")
    assert sorted(per["origin"].unique()) == [0, 1] and len(per) == 10
    pooled = pd.read_csv(run / "backtest.csv", dtype={"origin": str})
    assert set(pooled["origin"]) == {"0", "1", "all"}


def test_backtest_of_one_series_equals_the_panel_of_that_series(tmp_path):
    one = seasonal_panel(1)
    single, panel = tmp_path / "one.csv", tmp_path / "panel.csv"
    one.drop(columns=["sid"]).to_csv(single, index=False)
    one.to_csv(panel, index=False)
    common = ["--target", "y", "--horizon", "4", "--origins", "2", "--no-baselines", *FAST]
    assert main(["forecast", "backtest", "--csv", str(single), "--run",
                 str(tmp_path / "a"), *common]) == 0  # fmt: skip
    assert main(["forecast", "backtest", "--csv", str(panel), "--id-col", "sid", "--time-col",
                 "date", "--run", str(tmp_path / "b"), *common]) == 0  # fmt: skip
    a = pd.read_csv(tmp_path / "a" / "backtest_by_series.csv")
    b = pd.read_csv(tmp_path / "b" / "backtest_by_series.csv")
    assert len(a) == 2 and set(a["series"]) == {"one"}
    numeric = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(a[numeric], b[numeric])


def test_backtest_of_one_series_refuses_a_table_with_a_series_column(tmp_path, capsys):
    path = tmp_path / "one.csv"
    seasonal_panel(1).rename(columns={"sid": "series"}).to_csv(path, index=False)
    args = ["forecast", "backtest", "--csv", str(path), "--target", "y", "--horizon", "4"]
    assert main([*args, "--run", str(tmp_path / "r"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--id-col series" in err[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--horizon", "6", "--target", "nope"], "no column 'nope'"),
        ([], "give --horizon H"),
        (["--horizon", "6", "--horizons", "missing.csv"], "no such file"),
        (["--horizon", "500"], "or more observed values"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(long_csv, tmp_path, capsys, extra, message):
    run = tmp_path / "bad"
    args = ["forecast", "train", "--csv", str(long_csv), "--id-col", "sid", "--time-col", "date"]
    target = [] if "--target" in extra else ["--target", "y"]
    assert main([*args, *target, "--run", str(run), *FAST, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
    assert not (run / "artifact.json").exists()


def test_conflicting_duplicates_are_refused(tmp_path, capsys):
    df = seasonal_panel(2)
    path = tmp_path / "dup.csv"
    pd.concat([df, df.iloc[:1].assign(y=-5.0)]).to_csv(path, index=False)
    assert _train(path, tmp_path / "run", "--horizon", "3") == 2
    assert "two different values" in capsys.readouterr().err
