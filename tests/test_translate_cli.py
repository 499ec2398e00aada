"""`lstmkit translate`: train, predict and evaluate on a TSV; bad input is one line, exit 2."""

import json
import random

import pytest
import torch

from lstmkit.cli import build_parser, main
from lstmkit.tasks.translate import TranslateConfig, Translator, read_tsv
from lstmkit.tasks.translate.cli import config_from_args

TINY = [
    "--epochs",
    "2",
    "--minutes",
    "0",
    "--hidden-size",
    "16",
    "--embedding-dim",
    "8",
    "--batch-size",
    "16",
    "--beam-size",
    "3",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():  # the CLI sets 1 thread itself; restore the process's setting afterwards
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained on 120 word/phoneme-like pairs (the CLI end to end)."""
    root = tmp_path_factory.mktemp("translate")
    rng = random.Random(0)
    lines = []
    for _ in range(120):
        word = "".join(rng.choice("abcde") for _ in range(rng.randint(2, 5)))
        lines.append(f"{word}\t{' '.join(c.upper() for c in word)}\n")
    tsv = root / "pairs.tsv"
    tsv.write_text("".join(lines))
    run = root / "run"
    code = main(
        [
            "translate",
            "--tsv",
            str(tsv),
            "--source-tokens",
            "char",
            "--target-tokens",
            "word",
            "--run",
            str(run),
            *TINY,
        ]
    )
    return code, tsv, run


def test_train_writes_the_run_and_prints_the_table(trained, capsys):
    code, _, run = trained
    assert code == 0
    for name in (
        "artifact.json",
        "metrics.json",
        "test.tsv",
        "history.csv",
        "attention.png",
        "learning_curve.png",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    rows = {row["decoding"]: row for row in metrics["test"]}
    assert set(rows) == {"greedy", "beam 3"}
    again = Translator.load(run).evaluate(read_tsv(run / "test.tsv"), beam_size=1)
    assert rows["greedy"]["wer"] == again["wer"] and rows["greedy"]["per"] == again["per"]
    assert rows["greedy"]["bleu"] == again["bleu"]
    assert rows["greedy"]["bleu_signature"].startswith("nrefs:")  # word-level targets


def test_predict_prints_n_best_with_scores_and_evaluate_scores_the_test_part(trained, capsys):
    _, tsv, run = trained
    capsys.readouterr()
    assert (
        main(["translate", "predict", "--run", str(run), "--text", "abc", "dea", "--n-best", "2"])
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "source\trank\tscore\tlog_prob\toutput"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(r[0], r[1]) for r in rows] == [("abc", "1"), ("abc", "2"), ("dea", "1"), ("dea", "2")]
    assert float(rows[0][2]) >= float(rows[1][2])
    assert main(["translate", "evaluate", "--run", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| greedy |" in out and "| beam 3 |" in out and "sacrebleu signatures" in out
    assert (
        main(["translate", "evaluate", "--run", str(run), "--tsv", str(tsv), "--beam-size", "1"])
        == 0
    )
    assert "| beam" not in capsys.readouterr().out


@pytest.mark.parametrize("flag", [[], ["--input-feeding"], ["--no-input-feeding"]])
def test_the_input_feeding_switch_reaches_the_config(flag):
    args = build_parser("translate").parse_args(["translate", *flag])
    expected = {"--input-feeding": True, "--no-input-feeding": False}.get(
        "".join(flag), TranslateConfig().input_feeding
    )
    assert config_from_args(args).input_feeding is expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["translate", "--tsv", "{d}/missing.tsv"], "no TSV file"),
        (["translate", "--tsv", "{d}/one.tsv", "--target-col", "4"], "target column 4"),
        (["translate", "--tsv", "{d}/empty.tsv"], "is empty"),
        (["translate", "--tsv", "{d}/one.tsv", "--epochs", "1", "--minutes", "0"], "too few"),
        (["translate", "--valid", "{d}/one.tsv"], "--valid needs --tsv"),
        (["translate", "--tsv", "{d}/one.tsv", "--dropout", "1.5"], "dropout must lie in"),
        (["translate", "--attention", "cosine"], "invalid choice"),
        (["translate", "predict", "--run", "{d}/none", "--text", "a"], "no saved lstmkit model"),
        (["translate", "predict", "--run", "{run}"], "--input FILE"),
        (["translate", "predict", "--run", "{run}", "--text", "a", "--n-best", "9"], "--n-best"),
        (["translate", "predict", "--run", "{run}", "--input", "{d}/empty.tsv"], "no sources"),
        (["translate", "predict", "--run", "{run}", "--text", " "], "source 0 is empty"),
        (["translate", "evaluate", "--run", "{run}", "--tsv", "{d}/missing.tsv"], "no TSV file"),
        (["translate", "evaluate", "--run", "{d}/none"], "no saved lstmkit model"),
        (["translate", "--tsv", "{d}/one.tsv", "--batch-size", "0"], "batch_size must be >= 1"),
        (["translate", "--tsv", "{d}/one.tsv", "--source-col", "word"], "no column 'word'"),
        (["translate", "--tsv", "{d}/gap.tsv"], "line 2 has an empty target"),
        (["translate", "--tsv", "{d}/one.tsv", "--length-penalty", "-1"], "length_penalty"),
        (["translate", "--input-feeding", "yes"], "invalid choice: 'yes'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys, argv, message):
    (tmp_path / "one.tsv").write_text("abc\tA B C\n")
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "gap.tsv").write_text("abc\tA B C\nab\t \n")
    run = trained[2]
    args = [a.format(d=tmp_path, run=run) for a in argv]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("lstmkit: error:")
    assert message in err
