"""Forecast task: CSV checks, preprocessing without leakage, an end-to-end fit, save and load."""

import json
import shutil
import struct

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.data.series import Standardizer, infer_season, seasonal_profile, sliding_windows
from lstmkit.io import INDEX, ArtifactError, save_artifact
from lstmkit.tasks.base import Task
from lstmkit.tasks.forecast import ForecastConfig, Forecaster, load_series
from lstmkit.tasks.forecast.data import dataset_path, interpolate

FAST = {"epochs": 30, "ensemble": 1, "hidden_size": 16, "patience": 10, "seed": 0}


def seasonal_frame(n: int = 144, seed: int = 0) -> pd.DataFrame:
    """A monthly series: trend + yearly cycle + noise, with one covariate."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 20 + 0.05 * t + 4 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, n)
    dates = pd.date_range("2000-01-01", periods=n, freq="MS")
    return pd.DataFrame({"date": dates.strftime("%Y-%m"), "y": y, "x": np.cos(t / 5)})


def test_infer_season_from_dates():
    assert infer_season(pd.date_range("2000-01-01", periods=30, freq="MS")) == 12
    assert infer_season(pd.date_range("2000-01-01", periods=30, freq="D")) == 7
    assert infer_season(pd.date_range("2000-01-01", periods=30, freq="h")) == 24
    assert infer_season(pd.date_range("2000-01-01", periods=30, freq="QS")) == 4
    assert infer_season(None) == 1


def test_windows_and_scaler():
    x = np.arange(20.0).reshape(10, 2)
    inputs, targets = sliding_windows(x, x[:, :1], np.array([2, 5]), lookback=3, horizon=2)
    assert inputs.shape == (2, 3, 2) and targets.shape == (2, 2, 1)
    assert inputs[1, :, 0].tolist() == [6.0, 8.0, 10.0]
    assert targets[1, :, 0].tolist() == [12.0, 14.0]
    with pytest.raises(ValueError, match=r"window ends must lie in \[2, 7\]"):
        sliding_windows(x, x, np.array([8]), lookback=3, horizon=2)
    s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert s.transform(np.array([[2.0, 5.0]])).tolist() == [[0.0, 0.0]]


def test_seasonal_profile_recovers_the_cycle():
    t = np.arange(120)
    shape = np.sin(2 * np.pi * t / 12)
    profile, strength = seasonal_profile(0.1 * t + shape, 12)
    assert np.allclose(profile, shape[:12], atol=0.05)
    assert strength > 0.95


def test_missing_values_reported_interpolated_and_flagged():
    df = seasonal_frame(60)
    df.loc[[10, 11], "y"] = np.nan
    data = load_series(df)
    assert data.targets == ["y"] and data.covariates == ["x"]
    assert any("'y': 2 missing values" in note for note in data.notes)
    filled = interpolate(data.values)
    assert filled[10, 0] == pytest.approx(df.y[9] + (df.y[12] - df.y[9]) / 3)
    f = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 2})).fit(data)
    assert f.prep.indicators == [0]  # the indicator feature of 'y'
    assert f.prep.num_features == 3
    assert f.predict().index[0] == pd.Timestamp("2005-01-01")


def test_unsorted_timestamps_are_sorted():
    df = seasonal_frame(40)
    shuffled = df.sample(frac=1.0, random_state=1)
    data = load_series(shuffled)
    assert any("sorted by 'date'" in note for note in data.notes)
    assert np.allclose(data.values[:, 0], df.y.to_numpy())


def test_scaler_sees_only_the_training_part():
    df = seasonal_frame(80)
    df.loc[74:, "y"] = 1e6  # a test part no training statistic may see
    f = Forecaster(ForecastConfig(horizon=6, log=False, **{**FAST, "epochs": 2})).fit(df)
    assert f.prep.mean[0] == pytest.approx(df.y[:74].mean())


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (pd.DataFrame({"date": [], "y": []}), {}, "no data rows"),
        (seasonal_frame(40), {"targets": ["sales"]}, "target column 'sales' is not in the CSV"),
        (seasonal_frame(40).assign(z=np.nan), {}, "covariate column 'z' has no values"),
        (seasonal_frame(40).assign(w="rain"), {"targets": ["w"]}, "target column 'w' is not nu"),
        (seasonal_frame(40).assign(w="rain"), {}, "encode=True"),
        (pd.concat([seasonal_frame(5)] * 2), {}, "duplicate timestamps"),
    ],
)
def test_bad_frames(frame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_series(frame, **kwargs)


def test_encode_one_hot():
    df = seasonal_frame(20).assign(w=["rain", "sun"] * 10)
    data = load_series(df, encode=True)
    assert data.covariates == ["x", "w=rain", "w=sun"]


def test_short_series_and_bad_horizon():
    with pytest.raises(ValueError, match=r"has 20 rows but lookback 12 \+ horizon 6 needs"):
        Forecaster(ForecastConfig(horizon=6, lookback=12)).fit(seasonal_frame(20))
    with pytest.raises(ValueError, match="horizon must be >= 1, got 0"):
        ForecastConfig(horizon=0)


def test_fit_beats_naive_on_seasonal_series():
    f = Forecaster(ForecastConfig(horizon=12, **FAST)).fit(seasonal_frame())
    scores = f.evaluate()["y"]
    assert f.prep.season == 12 and f.prep.profiles is not None
    assert scores["lstmkit"]["MAE"] < 0.6 * scores["naive"]["MAE"]
    assert scores["lstmkit"]["MAE"] < 1.0


def test_seeded_fit_reproduces():
    a = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 3})).fit(seasonal_frame(60))
    b = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 3})).fit(seasonal_frame(60))
    assert np.array_equal(a.predict().to_numpy(), b.predict().to_numpy())


def test_save_load_predict_without_retraining(tmp_path):
    f = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 3})).fit(seasonal_frame(60))
    f.save(tmp_path)
    g = Forecaster.load(tmp_path)
    assert np.allclose(f.predict().to_numpy(), g.predict().to_numpy())
    assert g.predict(3).index[0] == pd.Timestamp("2005-01-01")
    assert g.evaluate() == f.evaluate()
    with pytest.raises(ValueError, match=r"horizon must be an int in \[1, 6\]"):
        g.predict(7)


def weights_file(directory):
    return directory / json.loads((directory / INDEX).read_text())["weights_file"]


def test_corrupt_and_foreign_checkpoints(tmp_path):
    f = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 2})).fit(seasonal_frame(60))
    f.save(tmp_path)
    weights = weights_file(tmp_path)
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="is corrupt: its SHA-256 does not match"):
        Forecaster.load(tmp_path)
    f.save(tmp_path)
    state = json.loads((tmp_path / INDEX).read_text())
    state["config"]["model"]["hidden_size"] = 32
    (tmp_path / INDEX).write_text(json.dumps(state))
    with pytest.raises(ArtifactError, match=r"has shape \(.*\) in the checkpoint but"):
        Forecaster.load(tmp_path)
    (tmp_path / INDEX).write_text("{not json")
    with pytest.raises(ArtifactError, match="is corrupt"):
        Forecaster.load(tmp_path)


@pytest.fixture(scope="module")
def fitted():
    """One small fitted forecaster and the series it was fitted on (a new one per module)."""
    frame = seasonal_frame(60, seed=int(np.random.default_rng().integers(1000)))
    return Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 3})).fit(frame), frame


def test_forecaster_is_a_task_and_round_trips_exactly(fitted, tmp_path):
    f, _ = fitted
    assert isinstance(Forecaster(), Task) and Forecaster.kind == "forecast"
    assert f.save(tmp_path) == tmp_path / INDEX
    g = Forecaster.load(tmp_path)
    assert isinstance(g, Task) and g.config == f.config
    assert np.array_equal(f.predict().to_numpy(), g.predict().to_numpy())
    assert f.predict().index.equals(g.predict().index)
    for a, b in zip(f.models, g.models):
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert g.histories == f.histories and len(g.histories) == 1


def flip_a_weight_byte(directory):
    """Flip one bit inside the tensor data, past safetensors' JSON header."""
    path = weights_file(directory)
    data = bytearray(path.read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    data[8 + header + (len(data) - 8 - header) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path, "is corrupt: its SHA-256 does not match"


def delete_the_weights_hash(directory):
    meta = json.loads((directory / INDEX).read_text())
    del meta["weights_sha256"]
    (directory / INDEX).write_text(json.dumps(meta))
    return directory / INDEX, r"is missing the fields \['weights_sha256'\]"


def delete_the_preprocessor(directory):
    meta = json.loads((directory / INDEX).read_text())
    del meta["config"]["preprocessor"]
    (directory / INDEX).write_text(json.dumps(meta))
    return directory / INDEX, "does not describe a forecaster: KeyError"


def delete_the_series(directory):
    (directory / "series.csv").unlink()
    return directory / INDEX, "names series.csv, which cannot be read"


@pytest.mark.parametrize(
    "damage",
    [flip_a_weight_byte, delete_the_weights_hash, delete_the_preprocessor, delete_the_series],
)
def test_damaged_artifact_is_refused_naming_the_file(fitted, tmp_path, damage):
    fitted[0].save(tmp_path / "good")
    shutil.copytree(tmp_path / "good", tmp_path / "bad")
    damaged, says = damage(tmp_path / "bad")
    with pytest.raises(ArtifactError, match=says) as error:
        Forecaster.load(tmp_path / "bad")
    assert str(damaged) in str(error.value)
    Forecaster.load(tmp_path / "good")  # the copy it came from still loads


def test_foreign_artifacts_are_refused(tmp_path):
    save_artifact(tmp_path / "c", "classify", {"labels": ["a", "b"]}, {"w": torch.zeros(2)})
    with pytest.raises(ArtifactError, match="holds a 'classify' model, not a 'forecast' model"):
        Forecaster.load(tmp_path / "c")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "forecaster.json").write_text("{}")
    with pytest.raises(ArtifactError, match=r"no saved forecaster in .*format before"):
        Forecaster.load(tmp_path / "old")
    with pytest.raises(ArtifactError, match="no saved forecaster in"):
        Forecaster.load(tmp_path / "nothing")


def test_evaluate_and_predict_on_given_data(fitted):
    f, frame = fitted
    assert f.evaluate(frame) == f.evaluate()  # the series it was fitted on, read again
    # Forecasting past the training part by hand is the test part's forecast.
    by_hand = f.predict(data=frame.iloc[:-6])
    assert np.allclose(by_hand.to_numpy(), f.test_forecasts().forecasts["lstmkit"])
    assert by_hand.index.equals(pd.DatetimeIndex(pd.to_datetime(frame.date.iloc[-6:])))
    # A newer series: forecasts continue its own dates, from its own last rows.
    newer = pd.concat([frame, seasonal_frame(66).iloc[60:]], ignore_index=True)
    ahead = f.predict(3, data=newer)
    assert ahead.index[0] == pd.Timestamp("2005-07-01") and len(ahead) == 3
    assert not np.allclose(ahead.to_numpy(), f.predict(3).to_numpy())
    with pytest.raises(ValueError, match=r"has the columns \['y'\] .* fitted on \['y', 'x'\]"):
        f.evaluate(frame[["date", "y"]])
    with pytest.raises(ValueError, match="has 10 rows but this forecaster needs at least"):
        f.predict(data=frame.iloc[:10])
    with pytest.raises(ValueError, match=r"got DataFrame; .* predict\(data=\.\.\.\)"):
        f.predict(frame)


def test_embedded_datasets_load():
    air = load_series(dataset_path("airline"))
    assert air.values.shape == (144, 1) and air.targets == ["passengers"]
    sea = load_series(
        dataset_path("seattle"), targets=["temp_max"], covariates=["precipitation", "wind"]
    )
    assert sea.values.shape == (1461, 3)


@pytest.mark.slow
def test_airline_default_meets_target():
    """The README's airline number: sMAPE at least 40% below seasonal naive's 17.0."""
    f = Forecaster(ForecastConfig(targets=["passengers"], horizon=24))
    scores = f.fit(dataset_path("airline")).evaluate()["passengers"]
    assert scores["seasonal_naive"]["sMAPE"] == pytest.approx(17.01, abs=0.01)
    assert scores["lstmkit"]["sMAPE"] <= 10.2


@pytest.mark.slow
def test_seattle_covariates_meet_target():
    """Seattle temp_max, H=90, covariates: MAE below seasonal naive (m=365) and 2.85."""
    config = ForecastConfig(
        targets=["temp_max"],
        covariates=["precipitation", "temp_min", "wind"],
        horizon=90,
        season=365,
    )
    scores = Forecaster(config).fit(dataset_path("seattle")).evaluate()["temp_max"]
    assert scores["seasonal_naive"]["MAE"] == pytest.approx(2.893, abs=0.001)
    assert scores["lstmkit"]["MAE"] < 2.85


def test_predict_without_time_column_continues_row_numbers():
    df = pd.DataFrame({"y": np.sin(np.arange(60) / 3) + 2})
    f = Forecaster(ForecastConfig(horizon=6, **{**FAST, "epochs": 2})).fit(df)
    assert f.predict(3).index.tolist() == [60, 61, 62]
