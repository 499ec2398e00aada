"""Tests for lstmkit.plots.LearningCurves, the training callback that draws the learning
curves: when it draws (at checkpoints, every n epochs, at the end; never twice), what it
marks, and its settings."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lstmkit.plots import LearningCurves
from lstmkit.plots import curves as curves_module
from lstmkit.train import TrainConfig, fit

torch.set_num_threads(1)


def quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def linear_batches(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n * 8, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    return list(zip(x.split(8), y.split(8), strict=True))


def linear_objective(model, batch, state):
    return F.mse_loss(model(batch[0]), batch[1])


@pytest.fixture
def draws(monkeypatch):
    """Count the learning-curve drawings and what each was asked to mark."""
    calls, real = [], curves_module.plot_learning_curves

    def counting(history, path, **kw):
        calls.append((len(history), kw["monitor"], kw["best_epoch"]))
        return real(history, path, **kw)

    monkeypatch.setattr(curves_module, "plot_learning_curves", counting)
    return calls


@pytest.mark.parametrize(
    ("settings", "every", "drawn_after"),
    [
        ({}, None, [5]),  # no checkpoints: once, at the end
        ({"checkpoint_every": 2}, None, [2, 4, 5]),  # beside each checkpoint, the last too
        ({}, 2, [2, 4, 5]),  # every 2 epochs, and the end
    ],
)
def test_learning_curves_draw_when_due_and_at_the_end(
    tmp_path, draws, settings, every, drawn_after
):
    if settings:
        settings["checkpoint_dir"] = str(tmp_path / "run")
    png = tmp_path / "curves" / "learning.png"
    fit(
        nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=5, **settings),
        val_data=linear_batches(1, seed=1), callbacks=[LearningCurves(png, every=every)],
    )  # fmt: skip
    assert [n for n, _, _ in draws] == drawn_after
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learning_curves_mark_the_best_epoch_of_the_monitor(tmp_path, draws):
    scores = iter([(3.0, 0.5), (1.0, 0.6), (2.0, 0.9), (2.5, 0.7)])

    def evaluate(model, data):
        loss, accuracy = next(scores)
        return {"val_loss": loss, "accuracy": accuracy}

    callbacks = [LearningCurves(tmp_path / "a.png"),
                 LearningCurves(tmp_path / "b.png", monitor="accuracy", mode="max")]  # fmt: skip
    fit(nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=4), evaluate=evaluate,
        callbacks=callbacks)  # fmt: skip
    assert draws == [(4, "val_loss", 2), (4, "accuracy", 3)]


def test_learning_curves_reject_bad_settings():
    with pytest.raises(ValueError, match="every must be >= 1, got 0"):
        LearningCurves("c.png", every=0)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        LearningCurves("c.png", mode="up")
