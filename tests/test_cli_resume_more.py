"""`--resume` for `lstmkit tag`, `lstmkit translate` and `lstmkit reproduce`: Ctrl-C names the
command that resumes, and the resumed run ends exactly where an uninterrupted one does."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from test_cli_resume import _assert_same_weights, _interrupt_then_resume

from lstmkit.cli import main


@pytest.fixture
def rng():
    return np.random.default_rng(int.from_bytes(os.urandom(4), "little"))


def _tagged_file(path, rng, sentences: int) -> None:
    words = {"DET": ["the", "a"], "NOUN": ["cat", "dog", "mat"], "VERB": ["sat", "ran"]}
    lines = []
    for _ in range(sentences):
        for tag in ("DET", "NOUN", "VERB", *rng.choice(["DET", "NOUN"], rng.integers(0, 3))):
            lines.append(f"{rng.choice(words[tag])}\t{tag}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def test_tag_resume_equals_uninterrupted(tmp_path, rng, capsys):
    train, dev = tmp_path / "train.conll", tmp_path / "dev.conll"
    _tagged_file(train, rng, 40)
    _tagged_file(dev, rng, 8)
    argv = ["tag", "--train", str(train), "--dev", str(dev), "--format", "conll", "--epochs",
            "3", "--patience", "9", "--hidden-size", "8", "--word-dim", "8", "--char-dim", "4",
            "--char-hidden", "4", "--batch-size", "8", "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    _interrupt_then_resume(argv, cut, capsys, at_step=7)  # mid-epoch 2 (5 steps an epoch)
    _assert_same_weights(whole, cut, "tag")
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    assert m1["test"] == m2["test"] if "test" in m1 else m1["epochs"] == m2["epochs"]


def test_translate_resume_equals_uninterrupted(tmp_path, rng, capsys):
    letters = list("abcdef")
    words = {"".join(rng.choice(letters, rng.integers(2, 5))) for _ in range(120)}
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in sorted(words)))
    argv = ["translate", "--tsv", str(tsv), "--epochs", "3", "--minutes", "0", "--hidden-size",
            "8", "--embedding-dim", "8", "--batch-size", "16", "--beam-size", "1",
            "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    _interrupt_then_resume(argv, cut, capsys, at_step=8)
    _assert_same_weights(whole, cut, "translate")
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    for row1, row2 in zip(m1["test"], m2["test"], strict=True):
        row1.pop("seconds"), row2.pop("seconds")
        assert row1 == row2


def _runs(path) -> list[dict]:
    """The results of a reproduce JSON without the clock's figures."""
    results = json.loads(path.read_text())["results"]
    for result in results:
        result.pop("seconds")
        for row in result["history"]:
            for key in ("seconds", "elapsed"):
                row.pop(key, None)
    return results


def test_reproduce_resume_equals_uninterrupted(tmp_path, capsys):
    # Two planned runs (both initialisations); Ctrl-C mid-epoch in the second. The budget
    # is the number of sequences (75 steps), never the clock.
    argv = ["reproduce", "adding", "--T", "10", "--init", "chrono,default", "--seed", "3",
            "--max-sequences", "2400", "--budget-minutes", "30", "--quiet",
            "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole), "--out", str(whole / "r.json")]) == 0
    argv += ["--out", str(cut / "r.json")]
    _interrupt_then_resume(argv, cut, capsys, at_step=30, fit=1)  # mid-epoch 1 (50 steps)
    assert _runs(whole / "r.json") == _runs(cut / "r.json")
    assert (cut / "result-0.json").is_file() and (cut / "checkpoint-1").is_dir()


def test_reproduce_without_an_experiment_is_one_line(tmp_path, capsys):
    assert main(["reproduce", "--run", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "give an experiment" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
