"""Tests for lstmkit.train callbacks: order and arguments of the hooks, stop requests with
their reasons, pruning, exact resume with callbacks, and writing only in the main process
(the learning-curve callback: test_learning_curves.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_models import TinyLSTM, objective
from torch import nn

from lstmkit.plots import LearningCurves
from lstmkit.train import (
    Callback,
    NonFiniteLossError,
    StepInfo,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    fit,
    read_checkpoint,
)
from lstmkit.train import distributed as distributed_module

torch.set_num_threads(1)


def quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def linear_batches(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(8, 3, generator=g)
        out.append((x, x @ torch.tensor([[1.0], [-2.0], [0.5]])))
    return out


def linear_objective(model, batch, state):
    return F.mse_loss(model(batch[0]), batch[1])


class Recorder(Callback):
    """Writes every hook call into a shared log, tagged with its own name."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def on_fit_start(self, trainer):
        self.log.append((self.name, "fit_start", trainer.state.epoch))

    def on_epoch_start(self, trainer, epoch):
        self.log.append((self.name, "epoch_start", epoch))

    def on_step_end(self, trainer, step):
        self.log.append((self.name, "step_end", step))

    def on_epoch_end(self, trainer, record):
        assert trainer.state.history[-1] is record  # counted before the hook runs
        self.log.append((self.name, "epoch_end", dict(record)))

    def on_checkpoint(self, trainer, path):
        self.log.append((self.name, "checkpoint", read_checkpoint(path).epoch))

    def on_fit_end(self, trainer, result):
        self.log.append((self.name, "fit_end", result))


def test_hooks_fire_in_order_with_the_right_arguments(tmp_path):
    losses = []

    def recording(model, batch, state):
        loss = linear_objective(model, batch, state)
        if model.training:
            losses.append(loss.item())
        return loss

    log = []
    trainer = Trainer(
        nn.Linear(3, 1),
        recording,
        quiet(epochs=2, optimizer="sgd", lr=0.05, schedule="step", step_size=1, gamma=0.5,
              checkpoint_dir=str(tmp_path)),
        callbacks=[Recorder("a", log), Recorder("b", log)],
    )  # fmt: skip
    result = trainer.fit(linear_batches(), linear_batches(1, seed=1))

    hooks = ["fit_start"]
    for _ in (1, 2):
        hooks += ["epoch_start", "step_end", "step_end", "step_end", "epoch_end", "checkpoint"]
    hooks += ["fit_end"]
    # Each hook of every callback, in the order given, before the loop goes on.
    assert [(name, hook) for name, hook, _ in log] == [(n, h) for h in hooks for n in "ab"]
    assert [args for name, hook, args in log if hook == "fit_start"] == [0, 0]
    assert [args for name, hook, args in log if hook == "epoch_start"] == [1, 1, 2, 2]
    steps = [args for name, hook, args in log if name == "a" and hook == "step_end"]
    assert all(isinstance(s, StepInfo) for s in steps)
    assert [(s.epoch, s.step, s.global_step, s.batch) for s in steps] == [
        (1, 1, 1, 0), (1, 2, 2, 1), (1, 3, 3, 2), (2, 1, 4, 0), (2, 2, 5, 1), (2, 3, 6, 2),
    ]  # fmt: skip
    assert [s.loss for s in steps] == losses
    assert [s.lr for s in steps] == [0.05] * 3 + [0.025] * 3
    assert [s.penalty for s in steps] == [0.0] * 6
    records = [args for name, hook, args in log if name == "a" and hook == "epoch_end"]
    for record, row, epoch_steps in zip(
        records, result.history, (steps[:3], steps[3:]), strict=True
    ):
        assert record == row
        assert row["grad_norm"] == pytest.approx(sum(s.grad_norm for s in epoch_steps) / 3)
        assert row["grad_norm_max"] == max(s.grad_norm for s in epoch_steps)
        assert "val_loss" in record
    checkpoints = [args for name, hook, args in log if name == "a" and hook == "checkpoint"]
    assert checkpoints == [1, 2]
    assert log[-1][2] is result


def test_step_info_repeats_the_batch_for_each_tbptt_chunk():
    log = []
    batches = [(torch.randn(2, 10, 1), torch.randn(2, 10, 1)) for _ in range(2)]
    fit(TinyLSTM(), objective, batches, quiet(epochs=1, tbptt=4), callbacks=[Recorder("a", log)])
    steps = [args for _, hook, args in log if hook == "step_end"]
    assert [(s.step, s.batch) for s in steps] == [(1, 0), (2, 0), (3, 0), (4, 1), (5, 1), (6, 1)]


class StopAt(Callback):
    def __init__(self, hook, when, reason):
        self.hook, self.when, self.reason = hook, when, reason

    def on_step_end(self, trainer, step):
        if self.hook == "step" and step.global_step == self.when:
            trainer.request_stop(self.reason)

    def on_epoch_end(self, trainer, record):
        if self.hook == "epoch" and record["epoch"] == self.when:
            trainer.request_stop(self.reason)


def test_a_stop_from_on_step_end_ends_the_epoch_after_that_step(tmp_path):
    calls = []

    def counting(model, batch, state):
        calls.append(model.training)
        return linear_objective(model, batch, state)

    cfg = quiet(epochs=10, checkpoint_dir=str(tmp_path), checkpoint_every=5)
    result = fit(
        nn.Linear(3, 1), counting, linear_batches(), cfg, val_data=linear_batches(1, seed=1),
        callbacks=[StopAt("step", 5, "loss is good enough")],
    )  # fmt: skip
    assert calls.count(True) == 5  # epoch 1: 3 steps; epoch 2: 2 steps, then the stop
    assert (result.stop_reason, result.stopped_early) == ("loss is good enough", True)
    assert len(result.history) == 2 and result.history[-1]["stopped"] == "loss is good enough"
    assert all("stopped" not in row for row in result.history[:-1])
    assert math.isfinite(result.history[-1]["val_loss"])  # the partial epoch was validated
    saved = read_checkpoint(tmp_path)
    assert saved.epoch == 2 and saved.meta["spent"]["steps"] == 5  # checkpointed as the last


def test_a_stop_from_on_epoch_end_ends_the_run_after_that_epoch():
    result = fit(
        nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=10),
        callbacks=[StopAt("epoch", 3, "solved")],
    )  # fmt: skip
    assert len(result.history) == 3 and result.stop_reason == "solved"
    assert result.history[-1]["stopped"] == "solved"


def test_budgets_and_patience_keep_their_reasons_and_the_first_request_wins():
    result = fit(
        nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=10, max_steps=4),
        callbacks=[StopAt("epoch", 9, "never reached")],
    )  # fmt: skip
    assert result.stop_reason == "max_steps" and len(result.history) == 2
    two = [StopAt("epoch", 2, "first"), StopAt("epoch", 2, "second")]
    result = fit(
        nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=5), callbacks=two
    )
    assert result.stop_reason == "first"


class FakeTrial:
    """Optuna's Trial as a pruning callback sees it: report(value, step), should_prune()
    with the median rule of optuna's MedianPruner against earlier trials' curves."""

    def __init__(self, earlier):
        self.earlier, self.reported = earlier, []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        step, value = self.reported[-1]
        others = [curve[step - 1] for curve in self.earlier if len(curve) >= step]
        return bool(others) and value > float(np.median(others))


class Pruning(Callback):
    """The Optuna pruning callback as lstmkit.train's docstring designs it."""

    def __init__(self, trial, monitor="val_loss"):
        self.trial, self.monitor = trial, monitor

    def on_epoch_end(self, trainer, record):
        self.trial.report(record[self.monitor], step=record["epoch"])
        if self.trial.should_prune():
            trainer.request_stop("pruned")


def test_pruning_reports_each_epoch_and_stops_with_the_reason_pruned():
    scores = iter([1.0, 0.9, 0.8, 0.7, 0.6])
    trial = FakeTrial(earlier=[[2.0, 1.0, 0.5, 0.4, 0.3], [3.0, 2.0, 0.6, 0.5, 0.4]])
    result = fit(
        nn.Linear(3, 1), linear_objective, linear_batches(), quiet(epochs=5),
        evaluate=lambda m, d: {"val_loss": next(scores)}, callbacks=[Pruning(trial)],
    )  # fmt: skip
    # Better than the median at epochs 1 and 2, worse at epoch 3 (0.8 > 0.55): pruned there.
    assert trial.reported == [(1, 1.0), (2, 0.9), (3, 0.8)]
    assert result.stop_reason == "pruned" and len(result.history) == 3


def test_callbacks_and_reasons_are_checked():
    with pytest.raises(TypeError, match=r"callbacks must be objects with hook methods \(on_fit"):
        fit(nn.Linear(3, 1), linear_objective, linear_batches(), quiet(), callbacks=[print])
    trainer = Trainer(nn.Linear(3, 1), linear_objective, quiet())
    with pytest.raises(TypeError, match="reason must be a non-empty string, got ''"):
        trainer.request_stop("")


def test_nan_still_raises_and_skips_on_fit_end():
    log = []

    def broken(model, batch, state):
        return linear_objective(model, batch, state) * float("nan")

    with pytest.raises(NonFiniteLossError, match="loss is nan at epoch 1, step 1"):
        fit(nn.Linear(3, 1), broken, linear_batches(), quiet(), callbacks=[Recorder("a", log)])
    assert [hook for _, hook, _ in log] == ["fit_start", "epoch_start"]


# -- exact resume and the generators --------------------------------------------------------------
class Noisy(Callback):
    """Draws from every global generator in every hook, as a sampling callback would."""

    def __init__(self, interrupt_at=None):
        self.interrupt_at = interrupt_at

    def _draw(self):
        torch.rand(5), np.random.rand(5), random.random()

    def on_fit_start(self, trainer):
        self._draw()

    def on_epoch_start(self, trainer, epoch):
        self._draw()

    def on_step_end(self, trainer, step):
        self._draw()
        if step.global_step == self.interrupt_at:
            raise KeyboardInterrupt  # Ctrl-C while a callback runs

    def on_epoch_end(self, trainer, record):
        self._draw()

    def on_checkpoint(self, trainer, path):
        self._draw()


def shuffled(seed_of_loader=None):
    x = torch.randn(24, 6, 1, generator=torch.Generator().manual_seed(3))
    data = torch.utils.data.TensorDataset(x, torch.sin(x))
    generator = None if seed_of_loader is None else torch.Generator().manual_seed(seed_of_loader)
    return torch.utils.data.DataLoader(data, batch_size=8, shuffle=True, generator=generator)


def dropout_model(seed=0):
    torch.manual_seed(seed)
    return TinyLSTM(6, dropout=0.3)


def same_weights(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("interrupt_at", [4, 6])  # inside epoch 2; at its last step
def test_callbacks_never_change_the_weights_and_resume_stays_exact(tmp_path, interrupt_at):
    cfg = quiet(epochs=3, lr=0.01, checkpoint_dir=str(tmp_path / "cut"))
    plain = fit(dropout_model(), objective, shuffled(), quiet(epochs=3, lr=0.01))
    noisy = fit(dropout_model(), objective, shuffled(), quiet(epochs=3, lr=0.01),
                callbacks=[Noisy()])  # fmt: skip
    assert same_weights(plain.model, noisy.model)

    with pytest.raises(TrainingInterrupted, match=f"epoch 2, step {interrupt_at - 3}"):
        fit(dropout_model(), objective, shuffled(), cfg, callbacks=[Noisy(interrupt_at)])
    torch.manual_seed(999)
    np.random.seed(999)
    resumed = fit(dropout_model(seed=1), objective, shuffled(), cfg, resume=True,
                  callbacks=[Noisy()])  # fmt: skip
    assert same_weights(plain.model, resumed.model)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in plain.history]


# -- writing only in the main process -------------------------------------------------------------
class Counter(Callback):
    def __init__(self, main_only):
        self.main_process_only, self.epochs = main_only, 0

    def on_epoch_end(self, trainer, record):
        self.epochs += 1


def test_a_process_that_is_not_main_trains_alike_and_writes_nothing(tmp_path, capsys):
    run, log = tmp_path / "run", tmp_path / "log.csv"
    settings = dict(epochs=2, checkpoint_dir=str(run), log_path=str(log))
    main = fit(dropout_model(), objective, shuffled(), quiet(**settings))
    written = {path: path.read_bytes() for path in (log, run / "checkpoint.json")}
    capsys.readouterr()
    everyone, main_only = Counter(False), Counter(True)
    other = fit(
        dropout_model(), objective, shuffled(), TrainConfig(**settings),  # progress on
        callbacks=[everyone, main_only, LearningCurves(tmp_path / "c.png")], main_process=False,
    )  # fmt: skip
    assert same_weights(main.model, other.model)
    assert (everyone.epochs, main_only.epochs) == (2, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "run"]  # no c.png
    assert {path: path.read_bytes() for path in written} == written
    out = capsys.readouterr()
    assert out.out + out.err == ""  # no progress bar, no epoch lines
    with pytest.raises(TrainingInterrupted, match="nothing was saved by this process"):
        fit(dropout_model(), objective, shuffled(), quiet(**settings), main_process=False,
            callbacks=[Noisy(interrupt_at=2)])  # fmt: skip
    assert {path: path.read_bytes() for path in written} == written
    # Every process reads the main one's checkpoint on resume.
    longer = quiet(**{**settings, "epochs": 3})
    resumed = fit(dropout_model(seed=2), objective, shuffled(), longer, resume=True,
                  main_process=False)  # fmt: skip
    whole = fit(dropout_model(), objective, shuffled(), quiet(epochs=3))
    assert same_weights(whole.model, resumed.model)
    assert read_checkpoint(run).epoch == 2


def test_main_process_defaults_to_rank_zero_of_a_process_group(monkeypatch):
    dist = torch.distributed
    assert distributed_module.is_main_process()  # no process group: the only process
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    for rank, expected in [(0, True), (1, False), (3, False)]:
        monkeypatch.setattr(dist, "get_rank", lambda rank=rank: rank)
        assert Trainer(nn.Linear(3, 1), linear_objective, quiet()).main_process is expected
    assert Trainer(nn.Linear(3, 1), linear_objective, quiet(), main_process=True).main_process
