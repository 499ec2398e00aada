"""`lstmkit recommend train --resume`: checkpoints go into the run directory, Ctrl-C names the
resuming command, and the resumed run ends with the weights and figures of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.io import load_artifact
from lstmkit.tasks.recommend import RecommendConfig, Recommender, Sessions
from lstmkit.train import Callback
from lstmkit.train.scope import extra_callbacks


class CtrlCAt(Callback):
    """A real SIGINT (as Ctrl-C sends) after a global optimizer step of the n-th fit."""

    def __init__(self, global_step: int, fit: int = 0) -> None:
        self.global_step, self.fit, self.fits = global_step, fit, -1

    def on_fit_start(self, trainer) -> None:
        self.fits += 1

    def on_step_end(self, trainer, step) -> None:
        if self.fits == self.fit and step.global_step == self.global_step:
            signal.raise_signal(signal.SIGINT)


def ratings_log(path, days=8, users=8):
    """Clicks of users (no session column: sessions cut by 30 minutes of inactivity), with a
    fresh random item walk each run, so the resume is checked on data it never saw."""
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    rows = []
    for day in range(days):
        for u in range(users):
            start = day * 86400 + u * 3000
            first, length = int(rng.integers(12)), int(rng.integers(3, 8))
            rows += [(f"u{u}", f"p{(first + 2 * t) % 12}", start + 90 * t) for t in range(length)]
    pd.DataFrame(rows, columns=["user", "product", "ts"]).to_csv(path, index=False)
    return path


def _argv(csv):
    return ["recommend", "--csv", str(csv), "--user-col", "user", "--item-col", "product",
            "--time-col", "ts", "--test-days", "2", "--val-days", "2", "--epochs", "2",
            "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "4", "--steps", "2",
            "--loss", "sampled", "--negatives", "4", "--threads", "1"]  # fmt: skip


def _same_run(whole, cut):
    a, b = load_artifact(whole, "recommend").tensors, load_artifact(cut, "recommend").tensors
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)
    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (whole, cut))
    for m in (m1, m2):  # the clock is all that may differ
        m.pop("train_seconds"), m.pop("scoring_seconds")
        for record in m["history"]:
            record.pop("seconds")
    assert m1 == m2


@pytest.mark.parametrize("fit", [0, 1], ids=["selection", "refit"])
def test_resume_equals_uninterrupted(tmp_path, capsys, fit):
    argv = _argv(ratings_log(tmp_path / "clicks.csv"))
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert main([*argv, "--run", str(whole)]) == 0
    capsys.readouterr()
    with extra_callbacks(CtrlCAt(5, fit)):
        assert main([*argv, "--run", str(cut)]) == 130
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"resume with: lstmkit recommend --run {cut} --resume"), err
    assert "interrupted at epoch" in err and len(err.splitlines()) == 1
    assert (cut / f"checkpoint-{fit}" / "checkpoint.json").is_file()
    assert not (cut / "metrics.json").exists()
    # The resuming command needs no other option: they come from the run directory.
    assert main(["recommend", "--run", str(cut), "--resume"]) == 0
    _same_run(whole, cut)


def test_resume_without_an_interrupted_run_is_one_line(tmp_path, capsys):
    assert main(["recommend", "--run", str(tmp_path / "none"), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds no interrupted training" in err and "\n" not in err


def test_the_same_seed_gives_the_same_recommender():
    log = Sessions([["a", "b", "c", "d"]] * 30, np.arange(30.0), [str(i) for i in range(30)])
    cfg = RecommendConfig(epochs=1, batch_size=4, embedding_dim=8, hidden_size=8)
    torch.manual_seed(1)
    first = Recommender(cfg).fit(log).model.state_dict()
    torch.manual_seed(2)  # the global RNG's state before fit must not matter
    second = Recommender(cfg).fit(log).model.state_dict()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=0, atol=0)
