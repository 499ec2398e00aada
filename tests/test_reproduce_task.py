"""A reproduce run on the Task shape: the same run as run_experiment, saved and loaded exactly."""

import json
import struct

import numpy as np
import pytest
import torch

from lstmkit.io import INDEX, ArtifactError, save_artifact
from lstmkit.tasks.base import Task
from lstmkit.tasks.reproduce import ReproduceConfig, Reproduction, adding_problem, run_experiment

SMALL = {"experiment": "adding", "T": 10, "max_sequences": 64, "settings": {"eval_every": 32}}


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seed = int(np.random.default_rng().integers(1000))
    yield Reproduction(ReproduceConfig(**SMALL, seed=seed)).fit()
    torch.set_num_threads(threads)


def without_times(history):
    return [{k: v for k, v in h.items() if k not in ("elapsed", "seconds")} for h in history]


def test_reproduction_is_the_run_of_run_experiment(trained):
    assert isinstance(Reproduction(), Task) and Reproduction.kind == "reproduce"
    cfg = trained.config
    again = run_experiment("adding", T=10, max_sequences=64, eval_every=32, seed=cfg.seed)
    assert (again.wrong, again.error, again.sequences) == (
        trained.result.wrong,
        trained.result.error,
        trained.result.sequences,
    )
    assert without_times(again.history) == without_times(trained.result.history)
    scores = trained.evaluate()
    assert (scores["wrong"], scores["error"]) == (again.wrong, again.error)
    assert scores["total"] == 2560 and scores["error_name"] == "MSE"


def test_save_load_round_trip_gives_identical_predictions(trained, tmp_path):
    assert trained.save(tmp_path) == tmp_path / INDEX
    loaded = Reproduction.load(tmp_path)
    assert loaded.config == trained.config and loaded.result == trained.result
    batch = adding_problem(50, np.random.default_rng(), 10)
    assert torch.equal(loaded.predict(batch), trained.predict(batch))
    assert loaded.predict(batch).shape == (50, 1)
    assert loaded.evaluate(batch) == trained.evaluate(batch)


def flip_a_weight_byte(directory):
    path = directory / json.loads((directory / INDEX).read_text())["weights_file"]
    data = bytearray(path.read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    data[8 + header + (len(data) - 8 - header) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path, "is corrupt: its SHA-256 does not match"


def delete_the_run_config(directory):
    meta = json.loads((directory / INDEX).read_text())
    del meta["config"]["reproduce"]
    (directory / INDEX).write_text(json.dumps(meta))
    return directory / INDEX, "does not describe a reproduce run: KeyError"


def change_the_hidden_size(directory):
    meta = json.loads((directory / INDEX).read_text())
    meta["config"]["reproduce"]["settings"]["hidden_size"] = 8
    (directory / INDEX).write_text(json.dumps(meta))
    return directory / INDEX, r"has shape \(.*\) in the checkpoint but"


@pytest.mark.parametrize(
    "damage", [flip_a_weight_byte, delete_the_run_config, change_the_hidden_size]
)
def test_damaged_or_foreign_artifacts_are_refused_naming_the_file(trained, tmp_path, damage):
    trained.save(tmp_path / "run")
    damaged, says = damage(tmp_path / "run")
    with pytest.raises(ArtifactError, match=says) as error:
        Reproduction.load(tmp_path / "run")
    assert str(damaged) in str(error.value)
    save_artifact(tmp_path / "f", "forecast", {"horizon": 6}, {"w": torch.zeros(3)})
    with pytest.raises(ArtifactError, match="holds a 'forecast' model, not a 'reproduce' model"):
        Reproduction.load(tmp_path / "f")


def test_bad_configs_and_data_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment 'copy'"):
        ReproduceConfig(experiment="copy")
    with pytest.raises(TypeError, match=r"unknown settings \['width'\]"):
        ReproduceConfig(settings={"width": 3})
    with pytest.raises(ValueError, match="init must be one of"):
        ReproduceConfig(init="orthogonal")
    with pytest.raises(TypeError, match="generates its own training sequences"):
        Reproduction(ReproduceConfig(**SMALL)).fit(np.zeros(3))
    with pytest.raises(ValueError, match="is not trained"):
        Reproduction().save(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written
