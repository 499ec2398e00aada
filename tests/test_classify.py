"""Sequence classification: batching, metrics, pooling, training, baseline, CLI, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from artifact_checks import assert_refuses_damaged_artifacts

from lstmkit.cli import main
from lstmkit.data.batching import SequenceBatches, bucket_batches, pad_sequences
from lstmkit.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
    precision_recall_f1,
)
from lstmkit.plots.confusion import plot_confusion_matrix
from lstmkit.tasks.base import Task
from lstmkit.tasks.classify import (
    Classifier,
    ClassifyConfig,
    LabelledSequences,
    LabelledTexts,
    SequenceClassifier,
    TfidfLogisticRegression,
    genre_passages,
    load_japanese_vowels,
    read_sequence_csv,
    read_text_csv,
)

pytestmark = pytest.mark.usefixtures("one_thread_module")


# -- batching -------------------------------------------------------------------------------
def test_pad_sequences_pads_with_zeros_and_returns_lengths():
    x, lengths = pad_sequences([torch.ones(3, 2), torch.full((1, 2), 5.0)])
    assert x.shape == (2, 3, 2) and lengths.tolist() == [3, 1]
    assert x[1, 0].tolist() == [5.0, 5.0] and x[1, 1:].abs().sum() == 0
    with pytest.raises(ValueError, match="sequence 1 has no steps"):
        pad_sequences([torch.ones(2, 2), torch.ones(0, 2)])
    with pytest.raises(
        ValueError, match=r"sequence 1 has step shape \(3,\), sequence 0 has \(2,\)"
    ):
        pad_sequences([torch.ones(2, 2), torch.ones(2, 3)])


def test_bucket_batches_use_every_index_once_and_group_similar_lengths():
    lengths = torch.randint(1, 100, (203,), generator=torch.Generator().manual_seed(0)).tolist()
    batches = bucket_batches(lengths, 16, generator=torch.Generator().manual_seed(1))
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert len(batches) == 13 and all(len(b) == 16 for b in batches if len(b) != 203 % 16)
    # Each batch is a run of the sorted lengths, so padding is small: spans of neighbours.
    order = sorted(lengths)
    for b in batches:
        span = [lengths[i] for i in b]
        lo, hi = order.index(min(span)), len(order) - order[::-1].index(max(span))
        assert hi - lo <= 16 + order.count(min(span)) + order.count(max(span))
    fixed = bucket_batches(lengths, 16, shuffle=False)
    assert fixed == bucket_batches(lengths, 16, shuffle=False)
    assert [lengths[i] for b in fixed for i in b] == order


def test_sequence_batches_yield_padded_labelled_batches():
    seqs = [torch.arange(1, n + 1) for n in (5, 2, 7, 3)]
    batches = list(SequenceBatches(seqs, [0, 1, 0, 1], batch_size=2, shuffle=False))
    assert [lengths.tolist() for _, lengths, _ in batches] == [[2, 3], [5, 7]]
    x, _, y = batches[0]
    assert x.tolist() == [[1, 2, 0], [1, 2, 3]] and y.tolist() == [1, 1]
    with pytest.raises(ValueError, match="got 4 sequences but 3 labels"):
        SequenceBatches(seqs, [0, 1, 0])


# -- metrics --------------------------------------------------------------------------------
def test_classification_metrics_against_hand_computed_values():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    precision, recall, f1 = precision_recall_f1(cm)
    np.testing.assert_allclose(precision, [1.0, 0.5, 0.5])
    np.testing.assert_allclose(recall, [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(f1, [0.8, 0.5, 2 / 3])
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    assert macro_f1(y_true, y_pred) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["per_class"]["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # A class never predicted scores 0, not NaN.
    assert macro_f1([0, 1], [0, 0], 2) == pytest.approx((2 / 3 + 0) / 2)
    with pytest.raises(ValueError, match="y_true has 2 entries but y_pred has 3"):
        confusion_matrix([0, 1], [0, 1, 1])
    with pytest.raises(TypeError, match="y_pred must hold integer class indices"):
        accuracy([0, 1], [0.5, 1.0])


def test_confusion_png_is_written(tmp_path):
    path = plot_confusion_matrix([[5, 1], [0, 4]], ["yes", "no"], tmp_path / "sub" / "cm.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"cm has shape \(2, 2\) but there are 3 class names"):
        plot_confusion_matrix([[5, 1], [0, 4]], ["a", "b", "c"], tmp_path / "x.png")


# -- model ----------------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_padding_never_changes_the_prediction(pooling):
    torch.manual_seed(0)
    model = SequenceClassifier(3, input_size=4, pooling=pooling, dropout=0.0).eval()
    x = torch.randn(2, 6, 4)
    lengths = torch.tensor([6, 3])
    padded = x.clone()
    padded[1, 3:] = 99.0  # garbage past the length must be ignored
    torch.testing.assert_close(model(padded, lengths), model(x, lengths))
    alone = model(x[1:, :3], torch.tensor([3]))
    torch.testing.assert_close(model(x, lengths)[1:], alone)


def test_mean_pooling_is_the_average_of_valid_outputs():
    torch.manual_seed(0)
    model = SequenceClassifier(2, input_size=3, pooling="mean", dropout=0.0).eval()
    x, lengths = torch.randn(1, 5, 3), torch.tensor([4])
    out, (h_n, _) = model.lstm(x, lengths=lengths)
    torch.testing.assert_close(model.pool(out, h_n, lengths), out[:, :4].mean(1))


# -- training and the baseline ----------------------------------------------------------------
def test_japanese_vowels_slice_learns_far_above_chance():
    train, test = load_japanese_vowels("train"), load_japanese_vowels("test")
    assert (len(train.seqs), len(test.seqs)) == (270, 370) and len(set(train.labels)) == 9
    config = ClassifyConfig(hidden_size=32, epochs=12, noise=0.3, seed=0)
    report = Classifier(config).fit(train).evaluate(test)
    # Chance is 1/9 = 0.11; a dozen epochs of a small BiLSTM reach about 0.9.
    assert report["accuracy"] > 0.75


def test_text_classifier_learns_a_word_task_and_save_load_keeps_predictions(tmp_path):
    rng = np.random.default_rng(0)
    filler = ["the", "a", "of", "and", "then", "we", "it", "was"]
    texts, labels = [], []
    for i in range(240):
        label = ["war", "love", "sea"][i % 3]
        words = [*rng.choice(filler, 6), label]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    data = LabelledTexts(texts, labels)
    config = ClassifyConfig(epochs=6, hidden_size=16, embedding_dim=16, ensemble=2, lr=1e-2)
    clf = Classifier(config).fit(LabelledTexts(texts[:180], labels[:180]))
    test = LabelledTexts(texts[180:], labels[180:])
    assert clf.evaluate(test)["macro_f1"] > 0.9
    clf.save(tmp_path / "run")
    back = Classifier.load(tmp_path / "run")
    np.testing.assert_allclose(back.predict_proba(test), clf.predict_proba(test), atol=1e-6)
    with pytest.raises(ValueError, match=r"labels \['ship'\] were not seen in training"):
        clf.evaluate(LabelledTexts(["a ship"], ["ship"]))
    assert len(data.texts) == 240


def test_tfidf_baseline_matches_the_formula_and_separates_easy_classes():
    base = TfidfLogisticRegression((1, 1), "char", lowercase=False)
    base.fit(["ab", "aab", "c"], [0, 0, 1])
    # idf = ln((1 + 3) / (1 + df)) + 1 with df(a)=2, df(b)=2, df(c)=1.
    np.testing.assert_allclose(base.idf, np.log(4 / np.array([3, 3, 2])) + 1)
    row = base.transform(["aab"]).to_dense()[0].numpy()
    expected = np.array([2, 1, 0]) * base.idf
    np.testing.assert_allclose(row, expected / np.linalg.norm(expected))
    assert base.predict(["aaa", "cc"]).tolist() == [0, 1]


def test_genre_split_keeps_every_play_on_one_side():
    train, test = genre_passages()
    assert not set(train.groups) & set(test.groups)
    assert sorted(set(test.labels)) == ["comedy", "history", "tragedy"]
    assert all(t.count("\n") == 9 for t in test.texts[:50])


# -- bad input ------------------------------------------------------------------------------
def test_bad_csv_input_gives_clear_errors(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"CSV file '.*empty.csv' is empty"):
        read_text_csv(empty)
    df = pd.DataFrame({"sequence": [0, 0, 1], "step": [0, 1, 0], "f": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="label column 'speaker' is not in the CSV .*--label-col"):
        read_sequence_csv(df.assign(y=1), label_col="speaker")
    with pytest.raises(ValueError, match="feature column 'f' is not numeric .*'x'"):
        read_sequence_csv(df.assign(f=["1", "x", "3"], y=1), label_col="y")
    no_step = df.assign(y=1, step=[0, 1, None])
    with pytest.raises(ValueError, match="sequence 1 has a row with no step"):
        read_sequence_csv(no_step, label_col="y")
    with pytest.raises(ValueError, match="text column 'review' is not in the CSV"):
        read_text_csv(pd.DataFrame({"text": ["a"], "label": [1]}), text_col="review")


def test_sequence_with_no_steps_is_refused():
    from lstmkit.tasks.classify import LabelledSequences

    data = LabelledSequences([torch.ones(3, 2), torch.ones(0, 2)], ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match="sequence 1 has no steps"):
        Classifier(ClassifyConfig(epochs=1)).fit(data)


def test_cli_runs_on_a_long_form_csv_and_reports(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for sid in range(40):
        label = sid % 2
        for step in range(int(rng.integers(3, 8))):
            rows.append((sid, step, rng.normal(label * 2.0), rng.normal(), f"class{label}"))
    csv = tmp_path / "seqs.csv"
    pd.DataFrame(rows, columns=["sequence", "step", "a", "b", "label"]).to_csv(csv, index=False)
    out = tmp_path / "run"
    args = ["classify", "--csv", str(csv), "--epochs", "5", "--hidden-size", "8", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "macro F1" in printed and "class0" in printed
    assert (out / "confusion.png").is_file() and (out / "metrics.json").is_file()
    assert main(["classify", "--csv", str(csv), "--label-col", "speaker"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error: label column 'speaker' is not in the CSV")


# -- predict --------------------------------------------------------------------------------
def long_form(rng, n, labels=("class0", "class1")):
    """Long-form rows (sequence, step, a, b, label): feature a is shifted by the class."""
    rows = []
    for sid in range(n):
        label = sid % len(labels)
        for step in range(int(rng.integers(3, 8))):
            rows.append((100 + sid, step, rng.normal(label * 2.0), rng.normal(), labels[label]))
    return pd.DataFrame(rows, columns=["sequence", "step", "a", "b", "label"])


@pytest.fixture(scope="module")
def numeric_run(tmp_path_factory, one_thread_module):
    """A tiny run trained through the CLI on a long-form CSV with a renamed id column."""
    folder = tmp_path_factory.mktemp("numeric")
    csv = folder / "train.csv"
    long_form(np.random.default_rng(0), 40).rename(columns={"sequence": "clip"}).to_csv(
        csv, index=False
    )
    args = ["classify", "--csv", str(csv), "--id-col", "clip", "--epochs", "3"]
    assert main([*args, "--hidden-size", "8", "--out", str(folder / "run")]) == 0
    return folder / "run"


def test_cli_predict_writes_ids_labels_and_probabilities(numeric_run, tmp_path, capsys):
    # New data read with the run's own columns (id column "clip"), one label never trained.
    df = long_form(np.random.default_rng(1), 12, ("class0", "class1", "class9"))
    df.rename(columns={"sequence": "clip"}).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "sub" / "pred.csv"
    capsys.readouterr()
    args = ["classify", "predict", "--run", str(numeric_run), "--csv", str(tmp_path / "new.csv")]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "macro F1" in printed and "on 8 labelled" in printed
    assert "4 with a label unseen in training (or none) not scored" in printed
    table = pd.read_csv(out)
    assert list(table.columns) == ["clip", "predicted", "p_class0", "p_class1"]
    assert table["clip"].tolist() == list(range(100, 112))
    np.testing.assert_allclose(table[["p_class0", "p_class1"]].sum(axis=1), 1.0, rtol=1e-6)
    clf = Classifier.load(numeric_run)
    data = read_sequence_csv(tmp_path / "new.csv", label_col="label", id_col="clip")
    assert table["predicted"].tolist() == clf.predict(data)
    np.testing.assert_allclose(table[["p_class0", "p_class1"]], clf.predict_proba(data), atol=1e-6)
    # Raw (T, F) arrays give the same; without the label column nothing is scored.
    assert clf.predict([s.numpy() for s in data.seqs]) == table["predicted"].tolist()
    df.drop(columns="label").rename(columns={"sequence": "clip"}).to_csv(
        tmp_path / "unlabelled.csv", index=False
    )
    args = ["classify", "predict", "--run", str(numeric_run), "--csv"]
    assert main([*args, str(tmp_path / "unlabelled.csv")]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" not in printed and "predictions:" in printed
    assert pd.read_csv(numeric_run / "predictions.csv").equals(table)


def test_cli_predict_column_flags_override_the_saved_ones(numeric_run, tmp_path, capsys):
    df = long_form(np.random.default_rng(2), 6).rename(columns={"a": "x", "b": "y"})
    df.to_csv(tmp_path / "renamed.csv", index=False)
    args = [
        "classify",
        "predict",
        "--run",
        str(numeric_run),
        "--csv",
        str(tmp_path / "renamed.csv"),
    ]
    assert main(args) == 2  # the run reads "clip", "a" and "b"
    assert "sequence id column 'clip' is not in the CSV" in capsys.readouterr().err
    assert main([*args, "--id-col", "sequence", "--features", "x,y"]) == 0
    table = pd.read_csv(numeric_run / "predictions.csv")
    assert list(table.columns[:2]) == ["sequence", "predicted"] and len(table) == 6


def test_cli_predict_on_texts_gives_one_row_each(tmp_path, capsys):
    rng = np.random.default_rng(0)
    words = ["the", "a", "of", "and", "then", "we"]
    rows = [(" ".join([*rng.choice(words, 4), key]), key) for key in ["war", "sea"] * 30]
    pd.DataFrame(rows, columns=["review", "label"]).to_csv(tmp_path / "t.csv", index=False)
    args = ["classify", "--csv", str(tmp_path / "t.csv"), "--text-col", "review", "--epochs", "2"]
    run = tmp_path / "run"
    assert main([*args, "--hidden-size", "8", "--no-baseline", "--out", str(run)]) == 0
    pd.DataFrame({"review": ["we sea", "war of the", "a sea"]}).to_csv(
        tmp_path / "new.csv", index=False
    )
    assert main(["classify", "predict", "--run", str(run), "--csv", str(tmp_path / "new.csv")]) == 0
    table = pd.read_csv(run / "predictions.csv")
    assert list(table.columns) == ["row", "predicted", "p_sea", "p_war"]
    assert table["row"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(table[["p_sea", "p_war"]].sum(axis=1), 1.0, rtol=1e-6)
    clf = Classifier.load(run)
    assert table["predicted"].tolist() == clf.predict(["we sea", "war of the", "a sea"])
    capsys.readouterr()
    pd.DataFrame({"text": ["sea"]}).to_csv(tmp_path / "other.csv", index=False)
    assert (
        main(["classify", "predict", "--run", str(run), "--csv", str(tmp_path / "other.csv")]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error: text column 'review' is not in the CSV")


def test_predict_errors_are_clear(numeric_run, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"run directory '.*nothing' does not exist"):
        Classifier.load(tmp_path / "nothing")
    with pytest.raises(ValueError, match=r"holds no trained classifier \(no artifact.json\)"):
        Classifier.load(tmp_path)
    clf = Classifier.load(numeric_run)
    with pytest.raises(TypeError, match="trained on numeric sequences, not texts"):
        clf.predict(["some text"])
    with pytest.raises(ValueError, match=r"sequence 0 has shape \(4,\); expected \(T, 2\)"):
        clf.predict([np.zeros(4)])
    df = long_form(np.random.default_rng(3), 4).rename(columns={"sequence": "clip"})
    df.drop(columns="b").to_csv(tmp_path / "no_b.csv", index=False)
    assert (
        main(
            ["classify", "predict", "--run", str(numeric_run), "--csv", str(tmp_path / "no_b.csv")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        err.startswith("lstmkit: error: feature column 'b' is not in the CSV")
        and err.count("\n") == 1
    )


# -- the Task shape, the artifact, reproducibility ---------------------------------------------
def tiny_numeric(seed=0, n=24):
    rng = np.random.default_rng(seed)
    seqs = [torch.tensor(rng.normal(size=(int(rng.integers(3, 8)), 2)), dtype=torch.float32)
            for _ in range(n)]  # fmt: skip
    labels = [f"c{i % 2}" for i in range(n)]
    for s, y in zip(seqs, labels):
        s[:, 0] += 2.0 * (y == "c1")
    return LabelledSequences(seqs, labels, ["a", "b"])


def test_same_seed_gives_the_same_weights_and_metrics_whatever_came_before():
    config = ClassifyConfig(epochs=2, hidden_size=6, ensemble=2, seed=5, pooling="attention")
    train, test = tiny_numeric(0), tiny_numeric(1)
    runs = []
    for noise in (1, 2):  # the global generator in another state before each fit
        torch.manual_seed(noise)
        torch.rand(noise * 7)
        clf = Classifier(config).fit(train)
        runs.append((clf, clf.evaluate(test)))
    (a, report_a), (b, report_b) = runs
    for ma, mb in zip(a.members, b.members):
        for (name, wa), wb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(wa, wb), name
    assert report_a == report_b
    other = Classifier(dataclasses.replace(config, seed=6)).fit(train)
    assert not torch.equal(other.members[0].head.weight, a.members[0].head.weight)


def test_classifier_is_a_task_whose_artifact_round_trips_and_refuses_damage(tmp_path):
    train, test = tiny_numeric(0), tiny_numeric(1)
    clf = Classifier(ClassifyConfig(epochs=1, hidden_size=6, ensemble=2)).fit(train)
    assert isinstance(clf, Task) and Classifier.kind == "classify"
    index = clf.save(tmp_path / "run")
    assert index == tmp_path / "run" / "artifact.json"
    back = Classifier.load(tmp_path / "run")
    assert isinstance(back, Task) and back.config == clf.config and back.features == ["a", "b"]
    assert np.array_equal(back.predict_proba(test), clf.predict_proba(test))
    assert back.predict(test) == clf.predict(test)
    assert_refuses_damaged_artifacts(Classifier.load, tmp_path / "run", tmp_path)


def test_text_classifier_artifact_keeps_its_vocabulary(tmp_path):
    texts = ["the war was long", "a sea of love", "the sea and the war", "love and war"] * 6
    labels = ["war", "sea", "sea", "war"] * 6
    config = ClassifyConfig(epochs=1, hidden_size=6, embedding_dim=4, min_freq=1)
    clf = Classifier(config).fit(LabelledTexts(texts, labels))
    clf.save(tmp_path / "run")
    back = Classifier.load(tmp_path / "run")
    assert back.tokenizer.tokens == clf.tokenizer.tokens and back.input_kind == "text"
    assert np.array_equal(back.predict_proba(texts[:5]), clf.predict_proba(texts[:5]))


# -- the targets (minutes each; run with `pytest -m slow`) ------------------------------
@pytest.mark.slow
def test_japanese_vowels_preset_reaches_the_target():
    from lstmkit.tasks.classify.cli import PRESETS

    clf = Classifier(ClassifyConfig(**PRESETS["japanese-vowels"]))
    report = clf.fit(load_japanese_vowels("train")).evaluate(load_japanese_vowels("test"))
    assert report["accuracy"] >= 0.985


@pytest.mark.slow
def test_genre_preset_beats_the_tfidf_baseline_on_the_same_split():
    from lstmkit.tasks.classify.cli import PRESETS, text_baselines

    train, test = genre_passages()
    clf = Classifier(ClassifyConfig(**PRESETS["genre"])).fit(train)
    baselines = text_baselines(train, test, clf.classes)
    tfidf = baselines["char 1-3-gram TF-IDF + LR"]["macro_f1"]
    assert clf.evaluate(test)["macro_f1"] > tfidf
