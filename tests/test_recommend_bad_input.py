"""recommend's bad input, in tests/test_bad_input.py's style: each refused BEFORE any training,
with exit code 2, one line on stderr, no traceback and no file left behind."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from refusals import corpus_argv, refused_up_front

from lstmkit.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_recommend")
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    rows = []
    for day in range(6):
        for u in range(6):
            start, n = day * 86400 + u * 4000, int(rng.integers(2, 6))
            rows += [(f"u{u}", f"p{rng.integers(8)}", start + 60 * t, 1) for t in range(n)]
    clicks = pd.DataFrame(rows, columns=["user", "item", "ts", "qty"])
    clicks.to_csv(root / "clicks.csv", index=False)
    clicks.assign(qty=-1).to_csv(root / "returns.csv", index=False)
    clicks.assign(ts="not a date").to_csv(root / "badtime.csv", index=False)
    # Every event 2 hours after the last: no session of 2 events under a 30-minute gap.
    clicks.assign(ts=np.arange(len(clicks)) * 7200).to_csv(root / "lonely.csv", index=False)
    # The last days' sessions hold only items never seen before them.
    late = clicks["ts"] >= 4 * 86400
    clicks.assign(item=np.where(late, "new" + clicks["item"], clicks["item"])).to_csv(
        root / "newitems.csv", index=False
    )
    (root / "empty.csv").write_text("")
    (root / "header.csv").write_text("user,item,ts\n")
    (root / "dir").mkdir()
    (root / "afile").write_text("x")
    broken = root / "broken_run"
    broken.mkdir()
    (broken / "artifact.json").write_text('{"format": "lstmkit artifact", "kind": ')
    return root


USER = ["--user-col", "user", "--time-col", "ts", "--test-days", "1", "--val-days", "1"]
CASES = {
    "csv does not exist": (["--csv", "{dir}/none.csv", *USER], "does not exist"),
    "csv is a directory": (["--csv", "{dir}", *USER], "is a directory"),
    "empty csv": (["--csv", "{empty.csv}", *USER], "is empty"),
    "header only": (["--csv", "{header.csv}", *USER], "has a header but no rows"),
    "missing item column": (["--csv", "{clicks.csv}", *USER, "--item-col", "sku"], "'sku'"),
    "missing user column": (["--csv", "{clicks.csv}", "--user-col", "who"], "'who'"),
    "missing session column": (["--csv", "{clicks.csv}", "--session-col", "visit"], "'visit'"),
    "bad time values": (["--csv", "{badtime.csv}", *USER], "time column 'ts'"),
    "all rows returns": (
        ["--csv", "{returns.csv}", *USER, "--quantity-col", "qty"],
        "no events left",
    ),
    "no session left by the gap": (["--csv", "{lonely.csv}", *USER], "no session has 2"),
    "no session left by the length": (
        ["--csv", "{clicks.csv}", *USER, "--min-session-length", "99"],
        "no session has 99",
    ),
    "no item left by the support": (
        ["--csv", "{clicks.csv}", *USER, "--min-item-support", "100000"],
        "--min-item-support",
    ),
    "test items never seen": (["--csv", "{newitems.csv}", *USER, "--test-days", "1.5"], "widen"),
    "training part empty": (["--csv", "{clicks.csv}", *USER, "--test-days", "30"], "empty"),
    "test-days 0": (["--csv", "{clicks.csv}", *USER, "--test-days", "0"], "test_days"),
    "negative gap": (["--csv", "{clicks.csv}", *USER, "--gap-minutes", "-5"], "gap_minutes"),
    "epochs 0": (["--csv", "{clicks.csv}", *USER, "--epochs", "0"], "epochs"),
    "batch-size 0": (["--csv", "{clicks.csv}", *USER, "--batch-size", "0"], "batch_size"),
    "dropout 1": (["--csv", "{clicks.csv}", *USER, "--dropout", "1"], "dropout"),
    "ks not numbers": (["--csv", "{clicks.csv}", *USER, "--ks", "5,x"], "--ks"),
    "ks zero": (["--csv", "{clicks.csv}", *USER, "--ks", "0"], "--ks"),
    "unknown loss": (["--csv", "{clicks.csv}", *USER, "--loss", "hinge"], "'hinge'"),
    "unknown flag": (["--csv", "{clicks.csv}", *USER, "--epoch", "1"], "--epoch"),
    "threads 0": (["--csv", "{clicks.csv}", *USER, "--threads", "0"], "--threads"),
    "items table missing": (
        ["--csv", "{clicks.csv}", *USER, "--items", "{dir}/items.csv"],
        "--items",
    ),
    "run is a file": (["--csv", "{clicks.csv}", *USER, "--run", "{afile}"], "is a file"),
    "resume nothing": (["--run", "{dir}", "--resume"], "no interrupted training"),
    "predict no session": (["predict", "--run", "{broken_run}"], "needs --session"),
    "predict top 0": (
        ["predict", "--run", "{broken_run}", "--session", "a", "--top", "0"],
        "--top",
    ),
    "predict no model": (["predict", "--run", "{dir}", "--session", "a"], "no saved lstmkit"),
    "predict corrupted run": (["predict", "--run", "{broken_run}", "--session", "a"], "artifact"),
    "evaluate corrupted run": (["evaluate", "--run", "{broken_run}"], "artifact"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_before_training(name, files, capsys, tmp_path, monkeypatch):
    argv, expected = CASES[name]
    argv = corpus_argv(argv, files)
    if "--threads" not in argv:
        argv += ["--threads", "1"]
    if "--epochs" not in argv:
        argv += ["--epochs", "1"]
    refused_up_front(["recommend", *argv], expected, files, tmp_path, capsys, monkeypatch)


def test_the_clean_log_of_the_corpus_is_accepted(files, tmp_path):
    """The corpus's good log trains, so each case above fails for its own flaw alone; with
    no --test-days, its 6 days are split by the default for short logs (a tenth each)."""
    argv = ["recommend", "--csv", str(files / "clicks.csv"), "--user-col", "user",
            "--time-col", "ts", "--epochs", "1",
            "--hidden-size", "8", "--embedding-dim", "8", "--no-baselines", "--threads", "1",
            "--run", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 0
    config = json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]
    assert 0.5 < config["test_days"] == config["val_days"] < 0.6
