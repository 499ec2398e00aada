"""`--resume` on the command line: Ctrl-C names the command that resumes, and the resumed
run ends with exactly the weights of a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from lstmkit.cli import main
from lstmkit.io import load_artifact
from lstmkit.train import Callback
from lstmkit.train.scope import extra_callbacks


class CtrlCAt(Callback):
    """Send a real SIGINT (as Ctrl-C does) after a global optimizer step of the n-th fit."""

    def __init__(self, global_step: int, fit: int = 0) -> None:
        self.global_step, self.fit, self.fits = global_step, fit, -1

    def on_fit_start(self, trainer) -> None:
        self.fits += 1

    def on_step_end(self, trainer, step) -> None:
        if self.fits == self.fit and step.global_step == self.global_step:
            signal.raise_signal(signal.SIGINT)


def _weights(run, kind) -> dict[str, torch.Tensor]:
    return load_artifact(run, kind).tensors


def _interrupt_then_resume(argv, run, capsys, at_step, fit=0):
    with extra_callbacks(CtrlCAt(at_step, fit)):
        assert main([*argv, "--run", str(run)]) == 130
    err = capsys.readouterr().err.strip()
    command = argv[0]
    assert err.endswith(f"resume with: lstmkit {command} --run {run} --resume"), err
    assert "interrupted at epoch" in err and len(err.splitlines()) == 1
    # The resuming command line needs no other option: they come from the run directory.
    assert main([command, "--run", str(run), "--resume"]) == 0


def _assert_same_weights(a, b, kind):
    wa, wb = _weights(a, kind), _weights(b, kind)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=0, msg=name)


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    words = ["to be", "or not", "that is", "the question", "whether", "tis nobler"]
    lines = [" ".join(rng.choice(words, 4)) for _ in range(120)]
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_generate_resume_equals_uninterrupted(tmp_path, text_file, capsys):
    argv = ["generate", "--text", str(text_file), "--hidden-size", "16", "--embedding-dim",
            "8", "--batch-size", "8", "--bptt", "16", "--epochs", "1", "--minutes", "0",
            "--eval-every", "6", "--max-length", "20", "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    _interrupt_then_resume(argv, cut, capsys, at_step=7)
    _assert_same_weights(whole, cut, "generate")
    h1 = json.loads((whole / "metrics.json").read_text())["history"]
    h2 = json.loads((cut / "metrics.json").read_text())["history"]
    assert [r["val_loss"] for r in h1] == [r["val_loss"] for r in h2]


def test_resume_without_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["generate", "--run", str(tmp_path / "none"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "holds no interrupted training" in err and len(err.strip().splitlines()) == 1


def test_stale_temporaries_removed_at_start(tmp_path, text_file):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    dead = 2**22 + 12345  # above the default pid_max, so no live process has it
    stale = [run / f".metrics.json.{dead}.tmp", run / "checkpoint" / f".weights-1.{dead}.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    argv = ["generate", "--text", str(text_file), "--hidden-size", "8", "--embedding-dim", "4",
            "--epochs", "0.2", "--minutes", "0", "--max-length", "5", "--run", str(run),
    ]  # fmt: skip
    assert main(argv) == 0
    assert not any(p.exists() for p in stale)


def test_forecast_ensemble_resume_equals_uninterrupted(tmp_path, capsys):
    argv = ["forecast", "--horizon", "6", "--epochs", "4", "--ensemble", "2", "--hidden-size",
            "8", "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    # Ctrl-C in the second member: the first resumes as finished, the second mid-epoch.
    _interrupt_then_resume(argv, cut, capsys, at_step=5, fit=1)
    assert (cut / "checkpoint-0").is_dir() and (cut / "checkpoint-1").is_dir()
    _assert_same_weights(whole, cut, "forecast")
    m1 = json.loads((whole / "metrics.json").read_text())
    m2 = json.loads((cut / "metrics.json").read_text())
    assert m1 == m2


def test_classify_ensemble_resume_equals_uninterrupted(tmp_path, capsys):
    import pandas as pd

    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    rows = []
    for seq in range(40):
        label = seq % 2
        for step in range(6):
            a, b = rng.normal(label, 1.0, 2)
            rows.append({"sequence": seq, "step": step, "a": a, "b": b, "label": f"c{label}"})
    csv = tmp_path / "seqs.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    argv = ["classify", "--csv", str(csv), "--epochs", "3", "--ensemble", "2", "--hidden-size",
            "8", "--batch-size", "8", "--threads", "1"]  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    _interrupt_then_resume(argv, cut, capsys, at_step=4, fit=1)
    _assert_same_weights(whole, cut, "classify")
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    m1.pop("train_seconds"), m2.pop("train_seconds")
    assert m1 == m2
