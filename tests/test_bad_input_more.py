"""The bad-input corpus for `lstmkit tag`, `lstmkit translate` and `lstmkit tune`: each case
is refused BEFORE any training (and before a study is stored), with exit code 2, one line
on stderr, no traceback and no file left behind."""

from __future__ import annotations

import pytest
from refusals import corpus_argv, refused_up_front


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "dir").mkdir()
    (root / "afile").write_text("x")
    (root / "empty.txt").write_text("")
    (root / "blank.txt").write_text("\n\n\n")
    (root / "tagged.conll").write_text("the\tDET\ncat\tNOUN\n\na\tDET\ndog\tNOUN\n")
    (root / "onetag.conll").write_text("the\tDET\ncat\tDET\n")
    (root / "pairs.tsv").write_text("abc\tA B C\nab\tA B\nbca\tB C A\n" * 5)
    (root / "onecol.tsv").write_text("abc\nab\n")
    (root / "y.csv").write_text("y\n" + "\n".join(str(i % 7) for i in range(60)) + "\n")
    (root / "space.toml").write_text("[space]\nbogus = {low = 1, high = 2}\n")
    (root / "badkey.toml").write_text("[space]\nlr = {low = 1e-3, top = 1}\n")
    (root / "notoml.toml").write_text("[space\n")
    (root / "grid.toml").write_text("[grid]\nhidden_size = []\n")
    broken = root / "broken_run"
    broken.mkdir()
    (broken / "artifact.json").write_text('{"format": "lstmkit artifact", "kind": ')
    return root


TUNE = ["tune", "forecast", "--csv", "{y.csv}", "--horizon", "6", "--epochs", "1"]
CASES = {
    # tag
    "tag train is a directory": (["tag", "--train", "{dir}"], "is a directory"),
    "tag train missing": (["tag", "--train", "{dir}/none.conll"], "none.conll"),
    "tag empty train": (["tag", "--train", "{empty.txt}", "--format", "conll"], "empty.txt"),
    "tag one tag only": (["tag", "--train", "{onetag.conll}", "--format", "conll"], "one tag"),
    "tag dev without train": (["tag", "--dev", "{tagged.conll}"], "--train"),
    "tag epochs 0": (["tag", "--train", "{tagged.conll}", "--epochs", "0"], "epochs"),
    "tag hidden-size 0": (["tag", "--train", "{tagged.conll}", "--hidden-size", "0"], "hidden"),
    "tag dropout 2": (["tag", "--train", "{tagged.conll}", "--dropout", "2"], "dropout"),
    "tag run is a file": (["tag", "--train", "{tagged.conll}", "--run", "{afile}"], "is a file"),
    "tag resume nothing": (["tag", "--run", "{dir}", "--resume"], "no interrupted"),
    "tag predict without input": (["tag", "predict", "--run", "{broken_run}"], "--input"),
    "tag corrupted run": (
        ["tag", "predict", "--run", "{broken_run}", "--input", "{tagged.conll}"],
        "artifact",
    ),
    # translate
    "translate tsv is a directory": (["translate", "--tsv", "{dir}"], "is a directory"),
    "translate tsv missing": (["translate", "--tsv", "{dir}/none.tsv"], "none.tsv"),
    "translate empty tsv": (["translate", "--tsv", "{empty.txt}"], "empty.txt"),
    "translate one column": (["translate", "--tsv", "{onecol.tsv}"], "column"),
    "translate valid without tsv": (["translate", "--valid", "{pairs.tsv}"], "--tsv"),
    "translate hidden-size 0": (
        ["translate", "--tsv", "{pairs.tsv}", "--hidden-size", "0"],
        "hidden",
    ),
    "translate epochs 0": (["translate", "--tsv", "{pairs.tsv}", "--epochs", "0"], "epochs"),
    "translate run is a file": (
        ["translate", "--tsv", "{pairs.tsv}", "--run", "{afile}"],
        "is a file",
    ),
    "translate resume nothing": (["translate", "--run", "{dir}", "--resume"], "no interrupted"),
    "translate corrupted run": (
        ["translate", "predict", "--run", "{broken_run}", "--text", "abc"],
        "artifact",
    ),
    "translate predict without sources": (["translate", "predict", "--run", "{dir}"], "artifact"),
    # tune
    "tune workers 0": ([*TUNE, "--workers", "0"], "--workers"),
    "tune trials 0": ([*TUNE, "--trials", "0"], "--trials"),
    "tune timeout negative": ([*TUNE, "--timeout", "-1"], "--timeout"),
    "tune space missing": ([*TUNE, "--space", "{dir}/none.toml"], "none.toml"),
    "tune space not toml": ([*TUNE, "--space", "{notoml.toml}"], "not valid TOML"),
    "tune space unknown option": ([*TUNE, "--space", "{space.toml}"], "bogus"),
    "tune space unknown key": ([*TUNE, "--space", "{badkey.toml}"], "top"),
    "tune grid without grid": ([*TUNE, "--sampler", "grid"], "[grid]"),
    "tune empty grid": ([*TUNE, "--sampler", "grid", "--space", "{grid.toml}"], "[grid]"),
    "tune bad storage": ([*TUNE, "--storage", "nosuchdb://x"], "--storage"),
    "tune run is a file": ([*TUNE, "--run", "{afile}"], "is a file"),
    "tune csv is a directory": (["tune", "forecast", "--csv", "{dir}"], "is a directory"),
    "tune classify empty csv": (["tune", "classify", "--csv", "{empty.txt}"], "empty"),
    "tune tag train missing": (["tune", "tag", "--train", "{dir}/none.conll"], "none.conll"),
    "tune translate one column": (["tune", "translate", "--tsv", "{onecol.tsv}"], "column"),
    "tune generate text is a directory": (["tune", "generate", "--text", "{dir}"], "directory"),
    "tune unknown task": (["tune", "nosuchtask"], "nosuchtask"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_before_training(name, files, capsys, tmp_path, monkeypatch):
    argv, expected = CASES[name]
    argv = corpus_argv(argv, files)
    argv = [*argv, "--threads", "1"] if name != "tune unknown task" else argv
    refused_up_front(argv, expected, files, tmp_path, capsys, monkeypatch)
