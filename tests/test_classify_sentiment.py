"""The embedded sentiment set: protocol (neutral out, fixed per-corpus split) and baselines."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest
import torch

from lstmkit.metrics.classification import classification_report
from lstmkit.tasks.classify import Classifier, ClassifyConfig, LabelledTexts
from lstmkit.tasks.classify.sentiment import (
    CORPORA,
    load_sentiment,
    per_corpus_scores,
    sentiment_split,
    sentiment_table,
    vader_predict,
)

# Non-neutral texts per corpus, from /work/shared/data/sentiment_vader/README.md (an
# independent count of the source files).
PUBLISHED = {"amazon": 3610, "movie": 10568, "nyt": 4946, "tweets": 4196}


@pytest.fixture(scope="module")
def split():
    return sentiment_split()


def test_neutral_texts_are_left_out_and_counts_match_the_source(split):
    train, test = split
    sizes = Counter(train.groups) + Counter(test.groups)
    assert dict(sizes) == PUBLISHED
    for corpus in CORPORA:
        rows = load_sentiment(corpus)
        neutral = {t for _, m, t in rows if m == 0}
        polar = {t for _, m, t in rows if m != 0}
        kept = {t for t, g in zip(train.texts + test.texts, train.groups + test.groups)
                if g == corpus}  # fmt: skip
        assert neutral and not (neutral - polar) & kept  # no text that is only neutral


def test_labels_are_the_sign_of_the_mean_rating(split):
    train, _ = split
    mean = {t: m for c in CORPORA for _, m, t in load_sentiment(c)}
    seen = Counter(train.texts)
    rng = np.random.default_rng()
    for i in rng.choice(len(train.texts), 200, replace=False):
        expected = "positive" if mean[train.texts[i]] > 0 else "negative"
        if seen[train.texts[i]] == 1:  # a duplicated text may carry either rating
            assert train.labels[i] == expected


def test_split_is_fixed_eighty_twenty_within_each_corpus(split):
    train, test = split
    again_train, again_test = sentiment_split()
    assert again_train == train and again_test == test  # fixed, whatever the global state
    for corpus, n in PUBLISHED.items():
        n_test = sum(g == corpus for g in test.groups)
        assert n_test == round(0.2 * n)
    only_tweets_train, only_tweets_test = sentiment_split(("tweets",))
    tweets = [t for t, g in zip(test.texts, test.groups) if g == "tweets"]
    assert only_tweets_test.texts == tweets  # a corpus's split does not depend on the others
    assert len(only_tweets_train.texts) + len(tweets) == PUBLISHED["tweets"]


def test_per_corpus_scores_match_a_direct_computation():
    rng = np.random.default_rng()
    n = 60
    groups = rng.choice(["a", "b", "c"], n).tolist()
    truth = rng.choice(["negative", "positive"], n).tolist()
    guess = rng.choice(["negative", "positive"], n).tolist()
    scores = per_corpus_scores(LabelledTexts(["x"] * n, truth, groups), {"s": guess})
    assert set(scores["s"]) == {"a", "b", "c", "pooled"}
    for corpus in ("a", "b", "c"):
        idx = [i for i in range(n) if groups[i] == corpus]
        acc = np.mean([truth[i] == guess[i] for i in idx])
        assert scores["s"][corpus]["accuracy"] == pytest.approx(acc)
        assert scores["s"][corpus]["n"] == len(idx)
    y = np.array([t == "positive" for t in truth], int)
    p = np.array([t == "positive" for t in guess], int)
    pooled = classification_report(y, p, ["negative", "positive"])
    assert scores["s"]["pooled"]["macro_f1"] == pytest.approx(pooled["macro_f1"])


def test_baseline_table_has_every_corpus_and_both_baselines(split):
    train, test = split
    small = []  # the first texts of every corpus: enough to run both baselines
    for data, k in ((train, 12), (test, 5)):
        idx = [i for c in CORPORA for i in [j for j, g in enumerate(data.groups) if g == c][:k]]
        small.append(LabelledTexts([data.texts[i] for i in idx], [data.labels[i] for i in idx],
                                   [data.groups[i] for i in idx]))  # fmt: skip
    table = sentiment_table(small[0], small[1], small[1].labels)
    assert set(table) == {"lstmkit", "VADER", "char 1-3-gram TF-IDF + LR"}
    for system in table.values():
        assert set(system) == {*CORPORA, "pooled"}
    assert table["lstmkit"]["pooled"]["accuracy"] == 1.0  # the truth as predictions


def test_vader_agrees_with_the_reference_on_clear_texts():
    assert vader_predict(["I love this, it is wonderful!", "This is awful and I hate it."]) == [
        "positive",
        "negative",
    ]


def test_missing_vader_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    with pytest.raises(ImportError, match=r"lstmkit\[baselines\]"):
        vader_predict(["fine"])


def test_sentiment_preset_runs_a_tiny_cli_training(tmp_path, capsys, monkeypatch):
    from lstmkit.cli import main
    from lstmkit.tasks.classify import cli as classify_cli

    def small_split():
        train, test = sentiment_split(("amazon",))
        return (LabelledTexts(train.texts[:80], train.labels[:80], train.groups[:80]),
                LabelledTexts(test.texts[:20], test.labels[:20], test.groups[:20]))  # fmt: skip

    monkeypatch.setattr(classify_cli, "sentiment_split", small_split)
    torch.set_num_threads(1)
    code = main(["classify", "--dataset", "sentiment", "--epochs", "1", "--ensemble", "1",
                 "--no-baseline", "--out", str(tmp_path / "run")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "amazon" in out and "pooled" in out
    assert Classifier.load(tmp_path / "run").input_kind == "text"


@pytest.mark.slow
def test_sentiment_preset_beats_both_baselines_pooled_and_vader_on_three_corpora():
    from lstmkit.tasks.classify.cli import PRESETS

    torch.set_num_threads(1)
    train, test = sentiment_split()
    clf = Classifier(ClassifyConfig(**PRESETS["sentiment"], text_col="text")).fit(train)
    table = sentiment_table(train, test, clf.predict(test))
    ours, vader, tfidf = (table[s] for s in ("lstmkit", "VADER", "char 1-3-gram TF-IDF + LR"))
    assert ours["pooled"]["macro_f1"] > max(vader["pooled"]["macro_f1"],
                                            tfidf["pooled"]["macro_f1"])  # fmt: skip
    wins = [c for c in CORPORA if ours[c]["macro_f1"] > vader[c]["macro_f1"]]
    assert len(wins) >= 3, wins
