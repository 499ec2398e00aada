"""`lstmkit inspect RUN` on tiny runs of forecast, classify (numbers and text) and generate,
each trained here through its own command, on the run's validation data and on --input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from inspect_checks import check_report, check_summary

from lstmkit.cli import main

VERSE = (
    'Shall I compare thee to a summer\'s day?\n"Thou art more lovely" and more temperate:\n'
    "Rough winds (do shake) the darling buds of May,\nAnd summer's lease hath all too short.\n"
)


pytestmark = pytest.mark.usefixtures("one_thread_module")


def test_forecast_run_on_its_validation_windows_and_on_a_csv(tmp_path, capsys):
    t = np.arange(70)
    frame = pd.DataFrame({"sales": 50 + 5 * np.sin(2 * np.pi * t / 12) + 0.2 * t,
                          "price": np.cos(t / 5)})  # fmt: skip
    frame.to_csv(tmp_path / "s.csv", index=False)
    run = tmp_path / "run"
    train = ["forecast", "--csv", str(tmp_path / "s.csv"), "--out", str(run), "--epochs", "2"]
    assert main([*train, "--ensemble", "1", "--hidden-size", "6", "--horizon", "4"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(run), "--units", "0,5", "--ig-steps", "16"]) == 0
    assert capsys.readouterr().out.strip() == f"inspect: {run / 'inspect' / 'index.html'}"
    page = check_report(run / "inspect" / "index.html")
    assert "Attributions" in page.sections and "A cell over the text" not in page.sections
    check_summary(run / "inspect", {"i", "f", "o"})
    att = pd.read_csv(run / "inspect" / "attribution.csv")
    assert list(att.columns) == ["step", "sales", "price"] and len(att) > 1
    frame.head(50).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "other"
    args = ["inspect", str(run), "--input", str(tmp_path / "new.csv"), "--out", str(out)]
    assert main([*args, "--attribution", "grad-x-input"]) == 0
    check_report(out / "index.html")
    assert "Gradient x input" in (out / "index.html").read_text()
    (tmp_path / "file").write_text("x")
    for bad, message in ((tmp_path / "file", "is a file"), (run, "holds no inspect report")):
        assert main(["inspect", str(run), "--out", str(bad)]) == 2
        assert message in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "x" and (run / "artifact.json").is_file()


def _long_form(path, n=24):
    rng = np.random.default_rng(0)
    rows = [(s, k, rng.normal(2.0 * (s % 2)), rng.normal(), f"c{s % 2}")
            for s in range(n) for k in range(int(rng.integers(3, 8)))]  # fmt: skip
    pd.DataFrame(rows, columns=["sequence", "step", "a", "b", "label"]).to_csv(path, index=False)
    return path


def test_classify_numeric_run_attributes_the_predicted_class(tmp_path, capsys):
    csv = _long_form(tmp_path / "seqs.csv")
    run = tmp_path / "run"
    train = ["classify", "--csv", str(csv), "--epochs", "2", "--hidden-size", "6"]
    assert main([*train, "--no-baseline", "--out", str(run)]) == 0
    assert main(["inspect", str(run), "--ig-steps", "32", "--example", "2"]) == 0
    page = check_report(run / "inspect" / "index.html")
    assert "Attributions" in page.sections
    table = check_summary(run / "inspect", {"i", "f", "o"})
    assert set(table["direction"]) == {0, 1}  # the classifier is bidirectional
    text = (run / "inspect" / "index.html").read_text()
    assert "the run&#x27;s test part" in text and "Completeness" in text
    assert main(["inspect", str(run), "--example", "99"]) == 2
    assert "--example 99 but the batch has" in capsys.readouterr().err


def test_classify_text_run_draws_a_cell_over_the_words(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "a", "of", "and", "then", "we"]
    rows = [(" ".join([*rng.choice(words, 4), key]), key) for key in ["war", "sea"] * 20]
    pd.DataFrame(rows, columns=["review", "label"]).to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    train = ["classify", "--csv", str(tmp_path / "t.csv"), "--text-col", "review"]
    assert main([*train, "--epochs", "1", "--hidden-size", "6", "--no-baseline", "--out",
                 str(run)]) == 0  # fmt: skip
    assert main(["inspect", str(run), "--ig-steps", "8"]) == 0
    page = check_report(run / "inspect" / "index.html")
    assert {"Attributions", "A cell over the text"} <= set(page.sections)
    att = pd.read_csv(run / "inspect" / "attribution.csv")
    assert list(att.columns) == ["step", "embedding (summed)"] and len(att) == 5


def test_generate_run_finds_a_cell_for_a_text_feature(tmp_path, capsys):
    (tmp_path / "train.txt").write_text(VERSE * 6)
    (tmp_path / "val.txt").write_text(VERSE * 2)
    run = tmp_path / "run"
    args = ["generate", "--text", str(tmp_path / "train.txt"), str(tmp_path / "val.txt")]
    args += ["--minutes", "0", "--epochs", "1", "--hidden-size", "12", "--embedding-dim", "8"]
    args += ["--batch-size", "4", "--bptt", "32", "--out", str(run), "--max-length", "5"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["inspect", str(run), "--feature", "inside quotes"]) == 0
    page = check_report(run / "inspect" / "index.html")
    assert "A cell over the text" in page.sections and "Attributions" not in page.sections
    text = (run / "inspect" / "index.html").read_text()
    assert "most correlated with &#x27;inside quotes&#x27;" in text
    assert "val.txt" in text  # the run's validation file, from the options it recorded
    assert main(["inspect", str(run), "--cell", "3", "--units", "1"]) == 0
    assert "unit 3 (c): chosen with --cell" in (run / "inspect" / "index.html").read_text()
    assert json.loads((run / "artifact.json").read_text())["kind"] == "generate"
    assert main(["inspect", str(run), "--units", "12"]) == 2
    assert "--units 12 is outside" in capsys.readouterr().err
    assert main(["inspect", str(run), "--feature", "rhyme"]) == 2
    assert "--feature must be one of" in capsys.readouterr().err


def test_generate_run_saved_from_python_on_other_text_needs_input(tmp_path, capsys):
    from lstmkit.tasks.generate import Corpus, GenerateConfig, TextGenerator

    digits = "0123 4567 89\n31 41 59 26\n" * 20
    config = GenerateConfig(minutes=None, epochs=1, hidden_size=6, embedding_dim=4,
                            batch_size=2, bptt=8)  # fmt: skip
    TextGenerator(config).fit(Corpus(digits, digits[:60])).save(tmp_path / "run")
    assert main(["inspect", str(tmp_path / "run")]) == 2
    assert "pass --input FILE with text" in capsys.readouterr().err
    (tmp_path / "more.txt").write_text(digits)
    assert main(["inspect", str(tmp_path / "run"), "--input", str(tmp_path / "more.txt")]) == 0
    check_report(tmp_path / "run" / "inspect" / "index.html")
