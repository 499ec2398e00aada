"""A corpus of bad input walked through every subcommand: each must be refused BEFORE any
training starts, with exit code 2, one line on stderr, no traceback and no file left behind.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from refusals import corpus_argv, refused_up_front

from lstmkit.tasks.classify.data import read_text_csv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    y = 50 + 10 * np.sin(np.arange(60) / 3) + rng.normal(0, 1, 60)
    (root / "dir").mkdir()
    (root / "afile").write_text("x")
    (root / "empty.csv").write_text("")
    (root / "twocol.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "text.csv").write_text("y\nfoo\nbar\n")
    (root / "ok.csv").write_text(pd.DataFrame({"y": y}).to_csv(index=False))
    for name, row, value in [("big", 30, 1e30), ("huge", 7, 1e308), ("inf", 20, np.inf)]:
        bad = y.copy()
        bad[row] = value
        frame = pd.DataFrame({"y": y, "c": bad}) if name == "inf" else pd.DataFrame({"y": bad})
        (root / f"{name}.csv").write_text(frame.to_csv(index=False))
    rows = [{"sequence": s, "step": t, "a": rng.normal(), "label": f"c{s % 2}"}
            for s in range(10) for t in range(4)]  # fmt: skip
    rows[9]["a"] = -np.inf
    (root / "seq_inf.csv").write_text(pd.DataFrame(rows).to_csv(index=False))
    (root / "text.txt").write_text("to be or not to be\n" * 50)
    broken = root / "broken_run"
    broken.mkdir()
    (broken / "artifact.json").write_text('{"format": "lstmkit artifact", "kind": ')
    return root


CASES = {
    # forecast: broken files, bad values, bad flags, bad paths
    "forecast csv is a directory": (["forecast", "--csv", "{dir}"], "is a directory"),
    "forecast empty csv": (["forecast", "--csv", "{empty.csv}"], "empty"),
    "forecast missing column": (["forecast", "--csv", "{twocol.csv}", "--target", "zz"], "zz"),
    "forecast non-numeric": (["forecast", "--csv", "{text.csv}"], "numeric"),
    "forecast 1e30 target": (["forecast", "--csv", "{big.csv}"], "column 'y', row index 30"),
    "forecast 1e308 target": (["forecast", "--csv", "{huge.csv}"], "column 'y', row index 7"),
    "forecast inf covariate": (["forecast", "--csv", "{inf.csv}"], "column 'c', row index 20"),
    "forecast season too long": (
        ["forecast", "--csv", "{ok.csv}", "--season", "1000"],
        "--season 1000",
    ),
    "forecast run is a file": (["forecast", "--csv", "{ok.csv}", "--run", "{afile}"], "is a file"),
    "forecast corrupted run": (["forecast", "evaluate", "--run", "{broken_run}"], "artifact"),
    "forecast resume nothing": (["forecast", "--run", "{dir}", "--resume"], "no interrupted"),
    # classify
    "classify csv is a directory": (["classify", "--csv", "{dir}"], "is a directory"),
    "classify empty csv": (["classify", "--csv", "{empty.csv}"], "empty"),
    "classify inf feature": (["classify", "--csv", "{seq_inf.csv}"], "row 9"),
    "classify min-freq leaves <unk>": (
        ["classify", "--dataset", "genre", "--min-freq", "100000"],
        "--min-freq 100000",
    ),
    "classify predict out is a dir": (
        ["classify", "predict", "--run", "{broken_run}", "--csv", "{twocol.csv}", "--out", "{dir}"],
        "--out",
    ),
    "classify corrupted run": (
        ["classify", "predict", "--run", "{broken_run}", "--csv", "{twocol.csv}"],
        "artifact",
    ),
    "classify out is a file": (
        ["classify", "--csv", "{seq_inf.csv}", "--out", "{afile}"],
        "is a file",
    ),
    # generate
    "generate text is a directory": (["generate", "--text", "{dir}"], "is a directory"),
    "generate embedding-dim 0": (["generate", "--embedding-dim", "0"], "--embedding-dim"),
    "generate eval-every 0": (["generate", "--eval-every", "0"], "--eval-every"),
    "generate eval-every -1": (["generate", "--eval-every", "-1"], "--eval-every"),
    "generate max-length -1": (["generate", "sample", "--max-length", "-1"], "--max-length"),
    "generate top-k -1": (["generate", "sample", "--top-k", "-1"], "--top-k"),
    "generate temperature huge": (
        ["generate", "sample", "--temperature", "1e308"],
        "--temperature",
    ),
    "generate temperature tiny": (
        ["generate", "sample", "--temperature", "1e-300"],
        "--temperature",
    ),
    "generate min-freq leaves <unk>": (
        ["generate", "--text", "{text.txt}", "--min-freq", "100000"],
        "--min-freq",
    ),
    "generate run is a file": (
        ["generate", "--text", "{text.txt}", "--run", "{afile}"],
        "is a file",
    ),
    "generate corrupted run": (["generate", "sample", "--run", "{broken_run}"], "artifact"),
    # bench, reproduce
    "bench budget -1": (["bench", "speed", "--budget", "-1"], "--budget"),
    "bench json is a dir": (["bench", "speed", "--json", "{dir}"], "--json"),
    "reproduce T 0": (["reproduce", "adding", "--T", "0"], "--T"),
    "reproduce out is a dir": (["reproduce", "adding", "--quick", "--out", "{dir}"], "--out"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_before_training(name, files, capsys, tmp_path, monkeypatch):
    argv, expected = CASES[name]
    argv = corpus_argv(argv, files)
    argv = [*argv, "--threads", "1"] if argv[0] != "bench" else argv
    refused_up_front(argv, expected, files, tmp_path, capsys, monkeypatch)


def test_text_read_with_na_parsing_off(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\nNA,a\nnan,b\nNone,a\nnull,b\n")
    data = read_text_csv(path, text_col="text", label_col="label")
    assert data.texts == ["NA", "nan", "None", "null"]
