"""`lstmkit tune` on generate, tag, translate and recommend: two trials each through the
task's own code, scored on held-out data, and a best.json the task's train accepts."""

from __future__ import annotations

import json

import numpy as np
import pytest

optuna = pytest.importorskip("optuna", reason="lstmkit[tune] is not installed")

from lstmkit.cli import main  # noqa: E402
from lstmkit.tune import tune  # noqa: E402
from lstmkit.tune.registry import SEARCHES  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng()


def _two_trials(task, flags, tmp_path, space):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"space": space}))
    result = tune(task, flags, trials=2, pruner="none", sampler="random", seed=1, space=path,
                  run=tmp_path / "tune")  # fmt: skip
    study = optuna.load_study(study_name=task, storage=f"sqlite:///{tmp_path / 'tune/study.db'}")
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state.name == "COMPLETE" for t in trials)
    values = [t.value for t in trials]
    best = max(values) if study.direction.name == "MAXIMIZE" else min(values)
    assert result["tune"]["value"] == best and result["tune"]["task"] == task
    assert json.loads((tmp_path / "tune" / "best.json").read_text())["config"] == result["config"]
    return result, values


def test_every_task_with_a_train_command_is_tunable():
    assert set(SEARCHES) == {"forecast", "classify", "generate", "tag", "translate", "recommend"}


def test_tune_generate(tmp_path, rng):
    words = ["to be", "or not", "that is", "the question", "whether", "tis nobler"]
    text = tmp_path / "tiny.txt"
    text.write_text("\n".join(" ".join(rng.choice(words, 4)) for _ in range(100)) + "\n")
    flags = ["--text", str(text), "--epochs", "0.5", "--minutes", "0", "--eval-every", "4",
             "--batch-size", "8", "--bptt", "16"]  # fmt: skip
    _, values = _two_trials(
        "generate", flags, tmp_path, {"hidden_size": [8, 16], "num_layers": 1,
                                      "embedding_dim": 8, "bptt": 16, "batch_size": 8},
    )  # fmt: skip
    assert all(0 < v < 10 for v in values)  # nats per token of a small vocabulary
    again = ["generate", "--text", str(text), "--epochs", "0.2", "--minutes", "0",
             "--max-length", "5", "--run", str(tmp_path / "again")]  # fmt: skip
    assert main([*again, "--config", str(tmp_path / "tune" / "best.json")]) == 0


def _tagged(path, rng, n):
    words = {"DET": ["the", "a"], "NOUN": ["cat", "dog", "mat"], "VERB": ["sat", "ran"]}
    lines = []
    for _ in range(n):
        lines += [f"{rng.choice(words[t])}\t{t}" for t in ("DET", "NOUN", "VERB")] + [""]
    path.write_text("\n".join(lines) + "\n")


def test_tune_tag_holds_out_a_dev_tenth_without_dev(tmp_path, rng):
    train = tmp_path / "train.conll"
    _tagged(train, rng, 40)
    flags = ["--train", str(train), "--format", "conll", "--epochs", "2", "--word-dim", "8",
             "--char-dim", "4"]  # fmt: skip
    _, values = _two_trials("tag", flags, tmp_path, {"hidden_size": [4, 8], "char_hidden": 4,
                                                     "num_layers": 1, "batch_size": 8})  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in values)  # dev token accuracy


def test_tune_translate(tmp_path, rng):
    words = sorted({"".join(rng.choice(list("abcd"), rng.integers(2, 4))) for _ in range(60)})
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    flags = ["--tsv", str(tsv), "--epochs", "2", "--minutes", "0", "--beam-size", "1"]
    _, values = _two_trials("translate", flags, tmp_path, {
        "hidden_size": [8, 12], "embedding_dim": 8, "encoder_layers": 1, "batch_size": 16,
    })  # fmt: skip
    assert all(0.0 <= v <= 1.5 for v in values)  # WER


def test_tune_recommend_scores_the_validation_days(tmp_path):
    from test_recommend import write_log

    csv = write_log(tmp_path / "clicks.csv")
    flags = ["--csv", str(csv), "--user-col", "user", "--item-col", "product", "--time-col",
             "ts", "--test-days", "2", "--val-days", "2", "--epochs", "2"]  # fmt: skip
    _, values = _two_trials("recommend", flags, tmp_path, {
        "hidden_size": [8, 16], "embedding_dim": 8, "batch_size": 64, "steps": 4,
    })  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in values)  # Recall@k
