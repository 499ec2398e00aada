"""`lstmkit tag`: train, predict and evaluate from the command line; bad input as one line."""

from __future__ import annotations

import json

import pytest
import torch

from lstmkit.cli import main
from lstmkit.io import load_artifact
from lstmkit.tasks.tag import read_conll, read_conllu

FAST = ["--epochs", "3", "--word-dim", "8", "--char-dim", "4", "--char-hidden", "4",
        "--hidden-size", "8", "--num-layers", "1", "--lr", "0.03"]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def conllu_file(path, sentences):
    lines = []
    for words in sentences:
        for i, (word, tag) in enumerate(words, start=1):
            lines.append(f"{i}\t{word}\t_\t{tag}\t{tag}X\t_\t_\t_\t_\t_")
        lines.append("")
    path.write_text("\n".join(lines))
    return path


SENTENCES = [[("the", "DET"), ("cat", "NOUN"), ("sat", "VERB")],
             [("a", "DET"), ("dog", "NOUN"), ("ran", "VERB"), ("far", "ADV")]] * 6  # fmt: skip


def test_train_predict_evaluate_round_trip(tmp_path, capsys):
    data = conllu_file(tmp_path / "tiny.conllu", SENTENCES)
    run = tmp_path / "run"
    args = ["tag", "train", "--train", str(data), "--dev", str(data), "--test", str(data)]
    assert main([*args, *FAST, "--output", "softmax", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "tiny test: token accuracy" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["scheme"] == "none" and 0 <= metrics["test"]["accuracy"] <= 1
    for name in ("artifact.json", "confusion.png", "learning_curve.png", "history.csv"):
        assert (run / name).is_file(), name
    text = tmp_path / "input.txt"
    text.write_text("the dog sat\n\na cat ran far\n")
    assert main(["tag", "predict", "--run", str(run), "--input", str(text)]) == 0
    predicted = read_conll(run / "predictions.conll")
    assert predicted.words == [["the", "dog", "sat"], ["a", "cat", "ran", "far"]]
    assert set(t for s in predicted.tags for t in s) <= {"DET", "NOUN", "VERB", "ADV"}
    out_file = tmp_path / "tagged.conllu"
    assert main(["tag", "predict", "--run", str(run), "--input", str(data),
                 "--output-file", str(out_file)]) == 0  # fmt: skip
    assert len(read_conllu(out_file)) == len(SENTENCES)  # CoNLL-U in, CoNLL-U out
    assert main(["tag", "evaluate", "--run", str(run), "--test", str(data)]) == 0
    assert json.loads((run / "evaluation.json").read_text())["tokens"] == 42
    assert (run / "confusion_tiny.png").is_file()  # the training run's confusion.png stays


def test_word_column_for_numbered_tokens(tmp_path):
    # GermEval 2014's layout: number, token, outer tag, inner tag; a '#' comment per sentence
    lines = "#\tsource\t[2009]\n1\tAnn\tB-PER\tO\n2\tsang\tO\tO\n\n"
    lines += "#\tsource\t[2010]\n1\tin\tO\tO\n2\tRome\tB-LOC\tO\n\n"
    data = tmp_path / "ge.tsv"
    data.write_text(lines * 4)
    run = tmp_path / "ge"
    assert main(["tag", "train", "--train", str(data), "--column", "3", "--word-column", "2",
                 *FAST, "--run", str(run)]) == 0  # fmt: skip
    vocab = json.loads(load_artifact(run, "tag").files["vocab.json"])
    assert {"ann", "rome"} <= set(vocab["words"]) and "1" not in vocab["words"]
    assert main(["tag", "predict", "--run", str(run), "--input", str(data)]) == 0
    assert read_conll(run / "predictions.conll").words[:2] == [["Ann", "sang"], ["in", "Rome"]]


def test_predict_max_length_column_names_and_foreign_tags(tmp_path, capsys):
    data = conllu_file(tmp_path / "tiny.conllu", SENTENCES)
    run = tmp_path / "run"
    assert main(["tag", "train", "--train", str(data), *FAST, "--run", str(run)]) == 0
    long = tmp_path / "long.txt"
    long.write_text(" ".join(["the", "cat", "sat"] * 400) + "\n")  # 1,200 > max_length 1000
    out = tmp_path / "long.conll"
    assert main(["tag", "predict", "--run", str(run), "--input", str(long),
                 "--output-file", str(out)]) == 2  # fmt: skip
    assert "raise --max-length" in capsys.readouterr().err
    assert main(["tag", "predict", "--run", str(run), "--input", str(long),
                 "--output-file", str(out), "--max-length", "2000"]) == 0  # fmt: skip
    assert len(read_conll(out).words[0]) == 1200
    ner = tmp_path / "ner.conll"
    ner.write_text("Ann\tB-PER\nsat\tO\n\nRome\tB-LOC\n")
    capsys.readouterr()
    assert main(["tag", "evaluate", "--run", str(run), "--test", str(ner)]) == 0
    err = capsys.readouterr().err
    assert "warning: most of" in err and "tags this model never learnt (B-LOC, B-PER, O)" in err
    assert main(["tag", "evaluate", "--run", str(run), "--test", str(ner), "--column", "upos"]) == 2
    assert "--column upos names a CoNLL-U column" in capsys.readouterr().err
    assert main(["tag", "predict", "--run", str(run), "--input", str(long),
                 "--output-file", str(tmp_path), "--max-length", "2000"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmkit: error:") and "is a directory" in err and "\n" not in err
    assert main(["tag", "train", "--train", str(ner), "--column", "xpos", *FAST,
                 "--run", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "--column xpos names a CoNLL-U column" in capsys.readouterr().err


def test_bio_column_file_with_xpos_style_column(tmp_path):
    train = tmp_path / "ner.conll"
    train.write_text(
        "we\tx\tO\nmet\tx\tO\nAnn\tx\tB-PER\nLee\tx\tI-PER\n\nin\tx\tO\nRome\tx\tB-LOC\n\n" * 4
    )
    run = tmp_path / "ner"
    assert main(["tag", "train", "--train", str(train), "--test", str(train), *FAST,
                 "--run", str(run)]) == 0  # fmt: skip
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["scheme"] == "bio" and "entities" in metrics["test"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["tag", "train", "--train", "MISSING.conllu"], "MISSING.conllu does not exist"),
        (["tag", "train", "--train", "{data}", "--column", "lemma"], "unknown column 'lemma'"),
        (["tag", "train", "--train", "{empty}"], "holds no sentences"),
        (["tag", "train", "--train", "{data}", "--max-length", "3"], "more than max_length 3"),
        (["tag", "predict", "--run", "{tmp}"], "tag predict needs --input FILE"),
        (["tag", "predict", "--run", "{tmp}/none", "--input", "{data}"], "no saved lstmkit model"),
        (["tag", "evaluate", "--run", "{tmp}"], "tag evaluate needs --test FILE"),
        (["tag", "--dev", "{data}"], "--dev and --test go with --train FILE"),
        (["tag", "--threads", "0"], "--threads must be at least 1"),
        (["tag", "--output", "hmm"], "invalid choice: 'hmm'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    data = conllu_file(tmp_path / "d.conllu", SENTENCES)
    empty = tmp_path / "empty.conllu"
    empty.write_text("\n\n")
    argv = [a.format(data=data, empty=empty, tmp=tmp_path) for a in argv]
    assert main([*argv, *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lstmkit: error:") and message in err and "\n" not in err


def test_lm_pretraining_saves_the_lms_and_a_later_run_reuses_them(tmp_path):
    train = tmp_path / "ner.conll"
    train.write_text("we\tO\nmet\tO\nAnn\tB-PER\n\nin\tO\nRome\tB-LOC\n\n" * 4)
    raw = tmp_path / "raw.txt"
    raw.write_text("we met Ann in Rome and Bo in Oslo\n" * 30)
    lm = ["--lm-text", str(raw), "--lm-minutes", "0.005", "--lm-hidden", "4", "--epochs", "1"]
    first = tmp_path / "first"
    assert main(["tag", "train", "--train", str(train), *FAST, *lm, "--run", str(first)]) == 0
    assert (first / "lm" / "artifact.json").is_file()
    second = tmp_path / "second"
    reuse = ["--epochs", "1", "--lm-from", str(first / "lm")]
    argv = ["tag", "train", "--train", str(train), *FAST, *reuse]
    assert main([*argv, "--run", str(second)]) == 0
    saved = json.loads((second / "artifact.json").read_text())["config"]
    assert saved["strings"]["hidden_size"] == 4  # the reused LMs' settings, not the defaults
    reused = load_artifact(second, "tag").tensors
    for name, tensor in load_artifact(first / "lm", "tag-lm").tensors.items():
        assert torch.equal(reused[name], tensor), name  # the same LMs, not new ones


def test_train_with_dev_refits_on_train_and_dev_for_the_best_epochs(tmp_path):
    train = conllu_file(tmp_path / "train.conllu", SENTENCES)
    dev = conllu_file(tmp_path / "dev.conllu", [[("the", "DET"), ("emu", "NOUN"), ("hid", "VERB")]])
    run = tmp_path / "run"
    argv = ["tag", "train", "--train", str(train), "--dev", str(dev), "--test", str(train),
            *FAST, "--patience", "10", "--train-with-dev", "--run", str(run)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test", "test_train_only"} <= set(metrics)
    artifact = load_artifact(run, "tag")
    history = artifact.config["history"]
    assert all("dev_accuracy" not in row for row in history)  # the final model trained on dev
    assert 1 <= len(history) == metrics["refit_epochs"] == artifact.config["tagger"]["epochs"] <= 3
    assert {"emu", "hid"} <= set(json.loads(artifact.text("vocab.json"))["words"])
    assert (run / "confusion_train_only.png").is_file()


def test_train_with_dev_needs_a_dev_set(tmp_path, capsys):
    train = conllu_file(tmp_path / "train.conllu", SENTENCES)
    assert main(["tag", "train", "--train", str(train), *FAST, "--train-with-dev"]) == 2
    assert "--train-with-dev needs a dev set" in capsys.readouterr().err


def test_best_epoch_is_the_first_of_the_best_dev_scores():
    from lstmkit.tasks.tag import Tagger

    tagger = Tagger()
    scores = [0.5, 0.7, 0.7, 0.6]
    tagger.history = [{"epoch": e, "dev_accuracy": s} for e, s in enumerate(scores, start=1)]
    assert tagger.best_epoch() == 2
    tagger.history = [{"epoch": 1, "train_loss": 1.0}]
    with pytest.raises(ValueError, match="no dev scores"):
        tagger.best_epoch()
