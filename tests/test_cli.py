"""The `lstmkit` command: help, a tiny forecast run, and one clear line with exit 2 on bad input."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main

TINY = ["--epochs", "3", "--ensemble", "1", "--hidden-size", "8", "--horizon", "6"]


def write_csv(path, n=60, **columns):
    t = np.arange(n)
    df = pd.DataFrame(
        {
            "date": pd.date_range("2001-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"),
            "sales": 50 + 5 * np.sin(2 * np.pi * t / 12) + 0.2 * t,
        }
    )
    for name, values in columns.items():
        df[name] = values
    df.to_csv(path, index=False)
    return path


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--horizon" in out and "--csv" in out and "predict" in out


def test_top_level_help_via_module():
    res = subprocess.run(
        [sys.executable, "-m", "lstmkit", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and "forecast" in res.stdout


def test_train_predict_evaluate_round_trip(tmp_path, capsys):
    csv = write_csv(tmp_path / "s.csv")
    out = tmp_path / "run"
    assert main(["forecast", "--csv", str(csv), "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "seasonal naive" in text and "sMAPE %" in text
    for name in ("artifact.json", "series.csv", "metrics.json", "forecast.png"):
        assert (out / name).is_file()
    assert len(list(out.glob("weights-*.safetensors"))) == 1
    assert main(["forecast", "predict", "--out", str(out), "--steps", "4"]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["time", "sales"] and len(table) == 4
    assert table.time[0] == "2006-01-01"
    assert main(["forecast", "evaluate", "--out", str(out)]) == 0
    assert "lstmkit LSTM" in capsys.readouterr().out


def bad_cases(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    nan = write_csv(tmp_path / "nan.csv", extra=np.nan)
    text = write_csv(tmp_path / "text.csv", kind="a")
    dup = tmp_path / "dup.csv"
    pd.concat([pd.read_csv(write_csv(dup, n=30))] * 2).to_csv(dup, index=False)
    short = write_csv(tmp_path / "short.csv", n=15)
    ok = write_csv(tmp_path / "ok.csv")
    return [
        (["--csv", str(empty)], "is empty"),
        (["--csv", str(ok), "--target", "revenue"], "target column 'revenue' is not in the CSV"),
        (["--csv", str(nan)], "covariate column 'extra' has no values"),
        (["--csv", str(text), "--target", "kind"], "target column 'kind' is not numeric"),
        (["--csv", str(short)], "has 15 rows but lookback"),
        (["--csv", str(dup)], "duplicate timestamps"),
        (["--csv", str(ok), "--horizon", "0"], "horizon must be >= 1, got 0"),
        (["--csv", str(ok), "--horizon", "x"], "invalid int value: 'x'"),
    ]


def test_bad_input_one_line_exit_2_nothing_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("old")
    for args, message in bad_cases(tmp_path):
        code = main(["forecast", "--out", str(out), *args, "--epochs", "2"])
        err = capsys.readouterr().err
        assert code == 2, args
        assert err.startswith("lstmkit: error: ") and message in err, err
        assert err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]
    assert (out / "metrics.json").read_text() == "old"


def test_corrupt_and_foreign_checkpoint_exit_2(tmp_path, capsys):
    csv = write_csv(tmp_path / "s.csv")
    out, other = tmp_path / "run", tmp_path / "other"
    assert main(["forecast", "--csv", str(csv), "--out", str(out), *TINY]) == 0
    assert (
        main(["forecast", "--csv", str(csv), "--out", str(other), *TINY, "--hidden-size", "12"])
        == 0
    )
    capsys.readouterr()
    (out / "forecast.csv").write_text("keep")
    # weights of a model with another configuration
    [weights] = out.glob("weights-*.safetensors")
    weights.write_bytes(next(other.glob("weights-*.safetensors")).read_bytes())
    assert main(["forecast", "predict", "--out", str(out)]) == 2
    assert f"{weights} is corrupt: its SHA-256 does not match" in capsys.readouterr().err
    (out / "artifact.json").write_text("{broken")
    assert main(["forecast", "evaluate", "--out", str(out)]) == 2
    assert "is corrupt" in capsys.readouterr().err
    assert main(["forecast", "predict", "--out", str(tmp_path / "nothing")]) == 2
    assert "no saved forecaster" in capsys.readouterr().err
    assert (out / "forecast.csv").read_text() == "keep"


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        main(["--debug", "forecast", "--csv", str(tmp_path / "missing.csv")])


def test_classify_help_lists_predict(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "{train,predict}" in out and "--run" in out and "p_<label>" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "{tmp}/missing", "--csv", "{tmp}/x.csv"], "run directory '{tmp}/missing' does "
         "not exist; train a classifier into it with `lstmkit classify --out {tmp}/missing`"),
        (["--run", "{tmp}"], "classify predict needs --csv FILE"),
        (["--run", "{tmp}", "--csv", "{tmp}/x.csv"], "'{tmp}' holds no trained classifier"),
    ],
)  # fmt: skip
def test_classify_predict_bad_input_one_line_exit_2(tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path) for a in args]
    assert main(["classify", "predict", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lstmkit: error: {message.format(tmp=tmp_path)}")
    assert err.count("\n") == 1


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    from lstmkit.train import TrainingInterrupted

    def interrupted(args):
        raise TrainingInterrupted(
            "training interrupted at epoch 3, step 7; no checkpoint", None, 3, 7
        )

    def plain(args):
        raise KeyboardInterrupt

    for handler, expected in ((interrupted, "lstmkit: training interrupted at epoch 3, step 7"),
                              (plain, "lstmkit: interrupted")):  # fmt: skip
        monkeypatch.setattr("lstmkit.tasks.forecast.cli.run_forecast", handler)
        assert main(["forecast"]) == 130
        err = capsys.readouterr().err
        assert (
            err.startswith(expected)
            and err.count("\n") == 1
            and "interrupted interrupted" not in err
        )


@pytest.mark.parametrize("command", [["forecast"], ["reproduce", "adding"], ["bench", "speed"]])
def test_threads_are_checked_in_the_same_words_everywhere(command, capsys):
    assert main([*command, "--threads", "0"]) == 2
    assert capsys.readouterr().err == "lstmkit: error: --threads must be at least 1, got 0\n"


def test_forecast_help_shows_the_shared_run_options(capsys):
    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    out = capsys.readouterr().out
    assert "--run DIR, --out DIR" in out and "--threads THREADS" in out and "--seed" in out
