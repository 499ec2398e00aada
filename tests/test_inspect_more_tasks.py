"""`lstmkit inspect RUN` on tiny saved runs of tag, translate, recommend and reproduce: translate
trained through its command (inspect reads the validation pairs its options name), the others
through the Python API (inputs from --input where such a run does not say where its data came
from)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inspect_checks import check_report, check_summary

from lstmkit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread_module")


def test_tag_run_with_both_bilstms_in_sentence_order(tmp_path, capsys):
    from lstmkit.tasks.tag import TagConfig, TaggedSentences, Tagger

    words = [["the", "cat", "sat"], ["a", "dog", "ran", "far"], ["we", "ran"]] * 4
    tags = [["D", "N", "V"], ["D", "N", "V", "A"], ["P", "V"]] * 4
    config = TagConfig(epochs=1, word_dim=6, char_dim=4, char_hidden=4, hidden_size=6,
                       dropout=0.0, patience=None)  # fmt: skip
    Tagger(config).fit(TaggedSentences(words, tags)).save(tmp_path / "run")
    assert main(["inspect", str(tmp_path / "run")]) == 2
    assert "pass --input FILE" in capsys.readouterr().err
    text = tmp_path / "new.txt"
    text.write_text("the dog sat far\nwe ran\n")
    assert main(["inspect", str(tmp_path / "run"), "--input", str(text)]) == 0
    page = check_report(tmp_path / "run" / "inspect" / "index.html")
    assert "A cell over the text" in page.sections and "Attributions" not in page.sections
    table = check_summary(tmp_path / "run" / "inspect", {"i", "f", "o"})
    modules = set(table["module"])
    assert {"encoder.forward_layers.0", "encoder.backward_layers.0"} <= modules
    assert any(m.startswith("chars.") for m in modules)


def test_translate_run_inspects_its_encoder_on_the_runs_validation_pairs(tmp_path):
    rng = np.random.default_rng(0)
    words = {"".join(rng.choice(list("abcde"), int(rng.integers(2, 5)))) for _ in range(60)}
    lines = [f"{w}\t{' '.join(w.upper())}\n" for w in sorted(words)]
    (tmp_path / "pairs.tsv").write_text("".join(lines))
    run = tmp_path / "run"
    train = ["translate", "--tsv", str(tmp_path / "pairs.tsv"), "--run", str(run), "--epochs"]
    train += ["1", "--minutes", "0", "--hidden-size", "8", "--embedding-dim", "4"]
    assert main([*train, "--batch-size", "16", "--beam-size", "1"]) == 0
    assert main(["inspect", str(run)]) == 0
    page = check_report(run / "inspect" / "index.html")
    assert "A cell over the text" in page.sections
    assert "the run&#x27;s validation pairs" in (run / "inspect" / "index.html").read_text()
    table = check_summary(run / "inspect", {"i", "f", "o"})
    assert set(table["module"]) == {"encoder.rnn"} and set(table["direction"]) == {0, 1}
    (tmp_path / "src.txt").write_text("abc\tA B C\ndea\n")
    assert main(["inspect", str(run), "--input", str(tmp_path / "src.txt")]) == 0
    assert "src.txt" in (run / "inspect" / "index.html").read_text()


def test_recommend_run_on_an_event_csv(tmp_path, capsys):
    from lstmkit.tasks.recommend import RecommendConfig, Recommender, Sessions

    rng = np.random.default_rng(0)
    sessions = [[f"i{(s + t) % 8}" for t in range(int(rng.integers(3, 7)))] for s in range(60)]
    log = Sessions(sessions, np.arange(60.0), [str(k) for k in range(60)])
    config = RecommendConfig(epochs=1, embedding_dim=8, hidden_size=8, batch_size=16, steps=4)
    Recommender(config).fit(log).save(tmp_path / "run")
    rows = [(f"s{k}", item, 60.0 * (10 * k + t))
            for k, items in enumerate(sessions[:10]) for t, item in enumerate(items)]  # fmt: skip
    pd.DataFrame(rows, columns=["session", "item", "time"]).to_csv(tmp_path / "e.csv", index=False)
    assert main(["inspect", str(tmp_path / "run"), "--input", str(tmp_path / "e.csv")]) == 0
    page = check_report(tmp_path / "run" / "inspect" / "index.html")
    assert "A cell over the text" in page.sections  # the items of a session as its tokens
    check_summary(tmp_path / "run" / "inspect", {"r", "z"})  # the GRU's gates
    (tmp_path / "other.csv").write_text("session,item,time\nx,zz,1\nx,yy,2\n")
    assert main(["inspect", str(tmp_path / "run"), "--input", str(tmp_path / "other.csv")]) == 2
    assert "keeps 2 items this model knows" in capsys.readouterr().err


def test_reproduce_run_attributes_the_adding_problems_sum_to_the_marked_steps(tmp_path, capsys):
    from lstmkit.tasks.reproduce import ReproduceConfig, Reproduction

    config = ReproduceConfig("adding", T=10, max_sequences=64, settings={"eval_every": 32})
    Reproduction(config).fit().save(tmp_path / "run")
    assert main(["inspect", str(tmp_path / "run"), "--limit", "8", "--ig-steps", "16"]) == 0
    page = check_report(tmp_path / "run" / "inspect" / "index.html")
    assert "Attributions" in page.sections and "A cell over the text" not in page.sections
    att = pd.read_csv(tmp_path / "run" / "inspect" / "attribution.csv")
    assert list(att.columns) == ["step", "input 0", "input 1"]
    assert main(["inspect", str(tmp_path / "run"), "--input", str(tmp_path / "x.csv")]) == 2
    assert "--input" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["quantile", "deepar"])
def test_forecast_panel_run_inspects_the_global_model(tmp_path, model):
    from lstmkit.tasks.forecast.panel import read_panel
    from lstmkit.tasks.forecast.panel_config import PanelConfig
    from lstmkit.tasks.forecast.panel_task import PanelForecaster

    rows = [(f"s{i}", t, 10 + i + np.sin(t)) for i in range(3) for t in range(30)]
    frame = pd.DataFrame(rows, columns=["id", "t", "y"])
    panel = read_panel(frame, id_col="id", time_col="t", target="y", horizon=4)
    extra = {"samples": 10} if model == "deepar" else {}
    config = PanelConfig(model=model, max_steps=10, ensemble=1, refit=False, hidden_size=6,
                         **extra)  # fmt: skip
    PanelForecaster(config).fit(panel).save(tmp_path / "run")
    assert main(["inspect", str(tmp_path / "run"), "--ig-steps", "8"]) == 0
    page = check_report(tmp_path / "run" / "inspect" / "index.html")
    assert ("Attributions" in page.sections) == (model != "deepar")
    check_summary(tmp_path / "run" / "inspect", {"i", "f", "o"})
