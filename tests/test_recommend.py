"""The recommend task end to end: a deterministic log learnt, save/load, the CLI, its errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.io import ArtifactError
from lstmkit.tasks.base import Task
from lstmkit.tasks.recommend import RecommendConfig, Recommender, Sessions


def cyclic_log(n_sessions=160, items=10, seed=0):
    """Sessions walking the cycle 0 -> 1 -> ... -> items-1 -> 0 from random starts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sessions):
        start, length = int(rng.integers(items)), int(rng.integers(3, 9))
        out.append([f"i{(start + t) % items}" for t in range(length)])
    return Sessions(out, np.arange(float(n_sessions)), [str(k) for k in range(n_sessions)])


SMALL = dict(embedding_dim=16, hidden_size=16, batch_size=16, steps=4, dropout=0.0, lr=0.02)


@pytest.mark.parametrize(("cell", "loss"), [("gru", "ce"), ("lstm", "sampled"), ("gru", "bpr-max")])
def test_a_deterministic_next_item_is_learnt_to_recall_at_1_near_1(cell, loss):
    torch.manual_seed(0)
    train, test = cyclic_log(), cyclic_log(40, seed=1)
    cfg = RecommendConfig(cell=cell, loss=loss, negatives=8, epochs=3, ks=(1, 5), **SMALL)
    rec = Recommender(cfg).fit(train)
    metrics = rec.evaluate(test)
    assert metrics["recall@1"] >= 0.97, metrics
    assert metrics["mrr@5"] >= 0.97
    assert rec.predict(["i3", "i4"], k=2)[0][0] == "i5"


def test_save_load_gives_the_same_scores_and_the_protocol_holds(tmp_path):
    torch.manual_seed(0)
    rec = Recommender(RecommendConfig(epochs=1, **SMALL)).fit(cyclic_log(80))
    rec.descriptions = {"i1": "the first"}
    rec.save(tmp_path / "run")
    back = Recommender.load(tmp_path / "run")
    assert isinstance(back, Task) and back.kind == "recommend"
    test = cyclic_log(20, seed=2)
    assert back.evaluate(test) == rec.evaluate(test)
    assert back.predict([["i1", "i2"], ["i7"]], k=4) == rec.predict([["i1", "i2"], ["i7"]], k=4)
    assert back.descriptions == {"i1": "the first"} and back.config == rec.config
    (tmp_path / "run" / "items.json").write_text("{}")
    with pytest.raises(ArtifactError, match="corrupt"):
        Recommender.load(tmp_path / "run")


def test_validation_picks_the_epoch_and_refit_trains_on_both(tmp_path):
    torch.manual_seed(0)
    cfg = RecommendConfig(epochs=2, refit=True, **SMALL)
    rec = Recommender(cfg).fit(cyclic_log(60), cyclic_log(30, seed=3))
    assert len(rec.selection) == 2 and "mrr@20" in rec.selection[0]
    assert len(rec.history) == rec.best_epoch
    assert len(rec.trained_on) == 90


def test_predict_refuses_sessions_it_knows_nothing_of():
    rec = Recommender(RecommendConfig(epochs=1, **SMALL)).fit(cyclic_log(40))
    with pytest.raises(ValueError, match="no item of the session"):
        rec.predict(["unknown"])
    with pytest.raises(ValueError, match="not trained"):
        Recommender().predict(["i1"])


def write_log(path, days=12, per_day=12, seed=0):
    """An event CSV of clicks with user ids (sessions cut by inactivity), one a line."""
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(days):
        for s in range(per_day):
            user, start = f"u{s}", day * 86400 + s * 3600
            first, length = int(rng.integers(10)), int(rng.integers(3, 7))
            rows += [(user, f"p{(first + t) % 10}", start + 60 * t) for t in range(length)]
    pd.DataFrame(rows, columns=["user", "product", "ts"]).to_csv(path, index=False)
    return path


def test_cli_train_evaluate_predict(tmp_path, capsys):
    csv = write_log(tmp_path / "clicks.csv")
    items = tmp_path / "items.csv"
    items.write_text("product,description\np1,first product\np2,second product\n")
    run = tmp_path / "run"
    args = [
        "recommend",
        "--csv",
        str(csv),
        "--user-col",
        "user",
        "--item-col",
        "product",
        "--time-col",
        "ts",
        "--test-days",
        "2",
        "--val-days",
        "2",
        "--epochs",
        "1",
        "--hidden-size",
        "8",
        "--embedding-dim",
        "8",
        "--items",
        str(items),
        "--run",
        str(run),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in (
        "lstmkit GRU (ce)",
        "popularity",
        "session popularity",
        "sequential rules",
        "session kNN",
    ):
        assert name in out
    report = json.loads((run / "metrics.json").read_text())
    assert set(report["rankers"]) >= {"popularity", "sequential rules", "session kNN"}
    assert (run / "recall_at_k.png").stat().st_size > 0
    assert (
        main(["recommend", "evaluate", "--run", str(run), "--csv", str(csv), "--no-baselines"]) == 0
    )
    assert "Recall@20" in capsys.readouterr().out
    assert (
        main(["recommend", "predict", "--run", str(run), "--session", "p0 p1", "--top", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "1. p" in out and "3. p" in out and "4. p" not in out
    # All ten items: the item table given at training shows p1's and p2's descriptions.
    assert main(["recommend", "predict", "--run", str(run), "--session", "p0 zz"]) == 0
    out = capsys.readouterr().out
    assert "not known to the model (skipped): zz" in out and "10. p" in out
    assert "p1           first product" in out and "p2           second product" in out
    table = tmp_path / "other.csv"
    table.write_text("product,description\np3,third product\n")
    assert main(["recommend", "predict", "--run", str(run), "--session", "p0", "--items",
                 str(table)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "p3           third product" in out and "first product" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--item-col", "sku"], "column 'sku' (--item-col) is not in event CSV"),
        (["--ks", "5,x"], "--ks takes whole numbers"),
        (["--test-days", "100"], "the training part is empty"),
        (["--loss", "hinge"], "invalid choice: 'hinge'"),
        (
            ["--tie-embeddings", "--hidden-size", "8"],
            "tie_embeddings needs embedding_dim == hidden_size",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    csv = write_log(tmp_path / "clicks.csv", days=4)
    base = [
        "recommend",
        "--csv",
        str(csv),
        "--user-col",
        "user",
        "--item-col",
        "product",
        "--time-col",
        "ts",
        "--test-days",
        "1",
        "--epochs",
        "1",
        "--run",
        str(tmp_path / "r"),
    ]
    assert main(base + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmkit: error:") and message in err and "\n" not in err


def test_cli_predict_errors(tmp_path, capsys):
    assert main(["recommend", "predict", "--run", str(tmp_path / "none"), "--session", "a"]) == 2
    assert "no saved lstmkit model" in capsys.readouterr().err
    assert main(["recommend", "predict", "--run", str(tmp_path)]) == 2
    assert "needs --session" in capsys.readouterr().err
