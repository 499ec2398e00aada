"""lstmkit tune: trials in a shared SQLite store, pruning through the Trainer, grid search."""

from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import pandas as pd
import pytest

optuna = pytest.importorskip("optuna", reason="lstmkit[tune] is not installed")

from lstmkit.cli import main  # noqa: E402
from lstmkit.tune import tune  # noqa: E402
from lstmkit.tune.space import read_space_file  # noqa: E402

# A tiny series and a tiny space: each trial is two epochs of a 4-8 unit LSTM.
SPACE = """
[space]
hidden_size = {low = 4, high = 8}
num_layers = 1
lookback = 8
batch_size = [16, 32]
lr = {low = 1e-3, high = 3e-2, log = true}
dropout = 0.0
"""
TASK_FLAGS = ["--horizon", "6", "--epochs", "2", "--patience", "5", "--season", "12"]


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng()
    t = np.arange(90)
    y = 10 + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(len(t))
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"y": y}).to_csv(path, index=False)
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return path, space


def test_two_workers_fill_one_sqlite_study_and_best_json_retrains(series, tmp_path, capsys):
    csv, space = series
    out = tmp_path / "tune"
    argv = ["tune", "forecast", "--csv", str(csv), *TASK_FLAGS, "--space", str(space)]
    argv += ["--trials", "4", "--workers", "2", "--pruner", "none", "--run", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    study = optuna.load_study(study_name="forecast", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both processes trained
    best = json.loads((out / "best.json").read_text())
    values = [t.value for t in trials]
    assert best["tune"]["value"] == min(values)
    assert f"val_loss = {min(values):.6g}" in printed
    table = pd.read_csv(out / "trials.csv", float_precision="round_trip")
    assert sorted(table["value"]) == sorted(values)
    assert (out / "history.png").stat().st_size > 0
    # The best settings train again through the task's own command.
    again = tmp_path / "again"
    retrain = ["forecast", "train", "--csv", str(csv), *TASK_FLAGS, "--run", str(again)]
    assert main([*retrain, "--config", str(out / "best.json")]) == 0
    saved = json.loads((again / "artifact.json").read_text())["config"]["forecast"]
    for key, value in best["config"].items():
        assert saved[key] == value, key
    # Rerunning with the same budget resumes the finished study: nothing more is trained.
    assert main(argv) == 0
    assert len(study.get_trials()) == 4


def _forecast_args(csv, *extra) -> argparse.Namespace:
    from lstmkit.tune.registry import search_for

    parser = argparse.ArgumentParser()
    search_for("forecast").add_parser(parser.add_subparsers(dest="task"))
    return parser.parse_args(["forecast", "--csv", str(csv), *TASK_FLAGS, *extra])


@pytest.mark.parametrize("prune", [True, False])
def test_a_pruned_trial_stops_before_its_last_epoch(series, prune):
    from lstmkit.tune.registry import search_for

    csv, _ = series
    args = _forecast_args(csv, "--epochs", "4", "--lookback", "8", "--ensemble", "1")
    # The threshold pruner prunes at the first report above it: every val_loss is > -1.
    pruner = optuna.pruners.ThresholdPruner(upper=-1.0 if prune else 1e9)
    study = optuna.create_study(pruner=pruner)
    study.optimize(lambda trial: search_for("forecast").run_trial(args, None, trial), n_trials=1)
    trial = study.trials[0]
    if prune:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert sorted(trial.intermediate_values) == [1]  # stopped after epoch 1 of 4
    else:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
        assert trial.value == pytest.approx(min(trial.intermediate_values.values()))


def test_grid_search_visits_exactly_the_grid(series, tmp_path):
    csv, space = series
    grid = {"hidden_size": [4, 6], "lr": [0.001, 0.01], "batch_size": [32]}
    text = space.read_text() + "\n[grid]\n" + "\n".join(f"{k} = {v}" for k, v in grid.items())
    space.write_text(text)
    assert read_space_file(space).grid == grid
    result = tune(
        "forecast",
        ["--csv", str(csv), *TASK_FLAGS, "--lookback", "8"],
        sampler="grid",
        pruner="none",
        space=space,
        run=tmp_path / "grid",
        seed=3,
    )
    study = optuna.load_study(
        study_name="forecast", storage=f"sqlite:///{tmp_path / 'grid' / 'study.db'}"
    )
    visited = sorted(tuple(t.params[k] for k in grid) for t in study.get_trials())
    assert visited == sorted(itertools.product(*grid.values()))
    assert result["config"]["hidden_size"] in grid["hidden_size"]


def test_bad_space_and_config_files_are_one_line_errors(series, tmp_path, capsys):
    csv, space = series
    space.write_text("[space]\nwidth = {low = 1, high = 2}\n")
    argv = ["tune", "forecast", "--csv", str(csv), "--space", str(space), "--run", str(tmp_path)]
    assert main(argv) == 2
    assert "width" in capsys.readouterr().err
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"config": {"hiden_size": 3}}))
    assert main(["forecast", "train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "hiden_size" in err and err.count("\n") == 1


@pytest.mark.slow  # 78 s at load 17 on 2 cores: Japanese Vowels trains 220 sequences a trial
def test_classify_trials_score_held_out_training_examples(tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"space": {"hidden_size": [8, 16], "batch_size": 64}}))
    result = tune(
        "classify",
        ["--epochs", "1", "--num-layers", "1"],
        space=space,
        trials=2,
        pruner="none",
        sampler="random",
        seed=0,
        run=tmp_path / "classify",
    )
    study = optuna.load_study(
        study_name="classify", storage=f"sqlite:///{tmp_path / 'classify' / 'study.db'}"
    )
    values = [t.value for t in study.get_trials()]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert result["tune"]["value"] == max(values)  # accuracy: maximised
    assert result["config"]["ensemble"] == 1
