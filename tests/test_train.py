"""Tests for lstmkit.train: learning, optimizers, schedules, clipping, penalties, early
stopping, reproducibility, truncated BPTT, NaN handling, logs, plots and bad input."""

from __future__ import annotations

import copy
import json
import math
import time

import pytest
import torch
import torch.nn.functional as F
from tiny_models import TinyLSTM, objective
from torch import nn

from lstmkit.plots import LearningCurves, plot_learning_curves
from lstmkit.train import (
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    fit,
    read_checkpoint,
    read_history,
    regularization_penalty,
    split_time,
)

torch.set_num_threads(1)


def sine_batches(n_batches=4, batch=16, steps=20, seed=0):
    """Batches of (x, y) where y is x one step later, on sines of random phase."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        phase = torch.rand(batch, 1, generator=g) * 2 * math.pi
        wave = torch.sin(torch.arange(steps + 1) * 0.3 + phase).unsqueeze(-1)
        out.append((wave[:, :-1], wave[:, 1:]))
    return out


def linear_data(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 3, generator=g)
    return [(x, x @ torch.tensor([[1.0], [-2.0], [0.5]]))]


def linear_objective(model, batch, state):
    return F.mse_loss(model(batch[0]), batch[1])


def quiet(**kw) -> TrainConfig:
    return TrainConfig(progress=False, **kw)


def test_lstm_learns_sine_prediction_below_bound():
    torch.manual_seed(0)
    result = fit(
        TinyLSTM(),
        objective,
        sine_batches(),
        quiet(epochs=30, lr=0.02),
        val_data=sine_batches(2, seed=1),
    )
    first, last = result.history[0]["val_loss"], result.history[-1]["val_loss"]
    assert first > 0.2  # predicting a sine of unit amplitude from nothing
    assert last < 0.02
    assert result.best_epoch == min(result.history, key=lambda r: r["val_loss"])["epoch"]


@pytest.mark.parametrize(
    ("name", "cls"),
    [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)],
)
def test_each_optimizer_trains(name, cls):
    torch.manual_seed(0)
    cfg = quiet(epochs=40, optimizer=name, lr=0.05, weight_decay=1e-4, clip_norm=None)
    trainer = Trainer(nn.Linear(3, 1), linear_objective, cfg)
    assert type(trainer.optimizer) is cls
    group = trainer.optimizer.param_groups[0]
    assert group["weight_decay"] == 1e-4
    if name == "sgd":
        assert group["momentum"] == 0.9
    result = trainer.fit(linear_data())
    assert result.history[-1]["train_loss"] < 0.1 * result.history[0]["train_loss"]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_is_fused_and_matches_the_per_tensor_update(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 3))
    reference, initial = copy.deepcopy(model), copy.deepcopy(model)
    cfg = quiet(epochs=1, optimizer=name, lr=0.01, weight_decay=1e-2, clip_norm=None)
    fused = Trainer(model, linear_objective, cfg).optimizer
    assert fused.param_groups[0]["fused"] is True
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    plain = cls(reference.parameters(), lr=0.01, weight_decay=1e-2, foreach=False)
    words = torch.randint(0, 50, (200,))
    for _ in range(20):
        for net, optimizer in ((model, fused), (reference, plain)):
            optimizer.zero_grad()
            net(words).pow(2).mean().backward()
            optimizer.step()
    for p, q, p0 in zip(model.parameters(), reference.parameters(), initial.parameters()):
        assert not torch.equal(p, p0)  # the steps moved it
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def _lrs(**kw):
    cfg = quiet(epochs=kw.pop("epochs", 6), lr=1.0, optimizer="sgd", **kw)
    history = fit(nn.Linear(3, 1), linear_objective, linear_data(), cfg).history
    return [row["lr"] for row in history]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, [1.0] * 6),
        ({"schedule": "step", "step_size": 2, "gamma": 0.5}, [1, 1, 0.5, 0.5, 0.25, 0.25]),
        ({"schedule": "exponential", "gamma": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625, 0.03125]),
        (
            {"schedule": "cosine", "min_lr": 0.1, "epochs": 4},
            [1.0, 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2, 0.55, 0.1 + 0.9 * 0.1464466],
        ),
        ({"warmup_epochs": 3}, [0.25, 0.5, 0.75, 1, 1, 1]),
        (
            {"warmup_epochs": 1, "schedule": "step", "step_size": 2, "gamma": 0.1},
            [0.5, 1, 1, 0.1, 0.1, 0.01],
        ),
        ({"schedule": "exponential", "gamma": 0.1, "min_lr": 0.005}, [1, 0.1, 0.01] + [0.005] * 3),
    ],
)
def test_lr_follows_schedule(kw, expected):
    assert _lrs(**kw) == pytest.approx(expected, rel=1e-6)


def test_plateau_cuts_lr_after_patience_without_improvement():
    scores = iter([5.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.5, 3.5, 3.5])
    cfg = quiet(
        epochs=9, lr=1.0, optimizer="sgd", schedule="plateau", plateau_patience=2, gamma=0.5
    )
    history = fit(
        nn.Linear(3, 1),
        linear_objective,
        linear_data(),
        cfg,
        evaluate=lambda model, data: {"val_loss": next(scores)},
    ).history
    # Epochs 3-5 do not improve on 4.0: after the third (> patience 2) the rate halves.
    assert [row["lr"] for row in history] == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5]


def test_clipping_logs_preclip_norm_and_matches_manual_update():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    reference = copy.deepcopy(model)
    data = linear_data()
    cfg = quiet(epochs=1, optimizer="sgd", momentum=0.0, lr=0.1, clip_norm=0.5)
    result = fit(model, linear_objective, data, cfg)

    loss = linear_objective(reference, data[0], None)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    assert norm > 0.5  # the bound bites
    assert result.history[0]["grad_norm"] == pytest.approx(float(norm), rel=1e-6)
    scale = 0.5 / (norm + 1e-6)
    for p, p0, g in zip(model.parameters(), reference.parameters(), grads, strict=True):
        torch.testing.assert_close(p.detach(), p0.detach() - 0.1 * scale * g, rtol=0, atol=1e-7)


def test_l1_l2_penalty_value_and_gradient():
    torch.manual_seed(0)
    model = nn.LSTM(2, 3)
    weights = [model.weight_ih_l0, model.weight_hh_l0]  # biases are not penalised
    expected = sum(0.01 * w.abs().sum() + 0.1 * (w**2).sum() for w in weights)
    torch.testing.assert_close(regularization_penalty(model, 0.01, 0.1), expected)
    assert regularization_penalty(model, 0.0, 0.0) is None

    # One plain SGD step with l2: w' = w - lr * (dL/dw + 2 * l2 * w).
    linear = nn.Linear(3, 1)
    reference = copy.deepcopy(linear)
    data = linear_data()
    cfg = quiet(epochs=1, optimizer="sgd", momentum=0.0, lr=0.1, l2=0.3, clip_norm=None)
    result = fit(linear, linear_objective, data, cfg)
    loss = linear_objective(reference, data[0], None)
    g_w, g_b = torch.autograd.grad(loss, [reference.weight, reference.bias])
    w0 = reference.weight.detach()
    torch.testing.assert_close(linear.weight.detach(), w0 - 0.1 * (g_w + 0.6 * w0))
    torch.testing.assert_close(linear.bias.detach(), reference.bias.detach() - 0.1 * g_b)
    assert result.history[0]["penalty"] == pytest.approx(0.3 * float((w0**2).sum()), rel=1e-6)
    assert result.history[0]["train_loss"] == pytest.approx(loss.item(), rel=1e-6)


def test_early_stopping_stops_and_restores_best_weights():
    scores = iter([3.0, 2.0, 1.0, 1.5, 2.5, 0.5, 0.1])
    snapshots = {}

    def evaluate(model, data):
        snapshots[len(snapshots) + 1] = copy.deepcopy(model.state_dict())
        return {"val_loss": next(scores)}

    cfg = quiet(epochs=7, lr=0.05, patience=2)
    result = fit(nn.Linear(3, 1), linear_objective, linear_data(), cfg, evaluate=evaluate)
    assert len(result.history) == 5  # epochs 4 and 5 do not beat epoch 3
    assert result.stopped_early and result.stop_reason == "patience"
    assert result.history[-1]["stopped"] == "patience"
    assert all("stopped" not in row for row in result.history[:-1])
    assert (result.best_epoch, result.best_metric) == (3, 1.0)
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, snapshots[3][key])


def test_request_stop_ends_the_run_after_the_current_epoch(tmp_path):
    trainer = Trainer(
        nn.Linear(3, 1),
        linear_objective,
        quiet(epochs=10, checkpoint_every=5, checkpoint_dir=str(tmp_path)),
    )

    def evaluate(model, data):
        if len(trainer.history) == 2:  # this is epoch 3: "solved"
            trainer.request_stop()
        return {"val_loss": 1.0}

    trainer.evaluate = evaluate
    result = trainer.fit(linear_data())
    assert len(result.history) == 3 and result.stop_reason == "request_stop"
    assert read_checkpoint(tmp_path).epoch == 3  # saved as the last epoch


def test_monitor_max_mode_picks_highest_metric():
    scores = iter([0.5, 0.9, 0.7])
    cfg = quiet(epochs=3, monitor="accuracy", mode="max")
    result = fit(
        nn.Linear(3, 1),
        linear_objective,
        linear_data(),
        cfg,
        evaluate=lambda m, d: {"accuracy": next(scores)},
    )
    assert (result.best_epoch, result.best_metric, result.monitor) == (2, 0.9, "accuracy")


def _dropout_run(seed):
    torch.manual_seed(123)  # same initial weights; the run's seed drives shuffling and dropout
    model = TinyLSTM(dropout=0.3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*map(torch.cat, zip(*sine_batches(2)))),
        batch_size=8,
        shuffle=True,
    )
    return fit(model, objective, loader, quiet(epochs=2, seed=seed)).model


def test_same_seed_reproduces_bit_for_bit():
    a, b, c = _dropout_run(0), _dropout_run(0), _dropout_run(1)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def flaky(model, batch, state):
        calls["n"] += 1
        loss = linear_objective(model, batch, state)
        return loss * float("nan") if calls["n"] == 7 else loss  # epoch 2, step 3

    data = linear_data() * 4
    cfg = quiet(epochs=3, lr=0.01, checkpoint_dir=str(tmp_path))
    model = nn.Linear(3, 1)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2, step 3 \(batch 3\)"):
        fit(model, flaky, data, cfg)
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint.epoch == 1
    assert all(math.isfinite(float(v.abs().sum())) for v in model.state_dict().values())


def test_tbptt_splits_batches_and_carries_detached_state():
    torch.manual_seed(0)
    model = TinyLSTM()
    reference = copy.deepcopy(model)
    batches = sine_batches(2, batch=4, steps=10)
    seen = []

    def recording(model, batch, state):
        seen.append((batch[0].shape[1], state))
        loss, new_state = objective(model, batch, state)
        seen[-1] += (new_state,)
        return loss, new_state

    cfg = quiet(epochs=1, tbptt=4, optimizer="sgd", lr=0.1, clip_norm=None)
    fit(model, recording, batches, cfg)
    assert [s[0] for s in seen] == [4, 4, 2, 4, 4, 2]  # ceil(10 / 4) chunks per batch
    assert seen[0][1] is None and seen[3][1] is None  # fresh state for each batch
    for prev, cur in [(seen[0], seen[1]), (seen[1], seen[2]), (seen[4], seen[5])]:
        for carried, produced in zip(cur[1], prev[2], strict=True):
            assert not carried.requires_grad
            assert torch.equal(carried, produced.detach())

    # The same by hand: one SGD step per chunk, the detached state carried within a batch.
    opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for batch in batches:
        state = None
        for chunk in split_time(batch, 4):
            loss, state = objective(reference, chunk, state)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = tuple(s.detach() for s in state)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q)


def test_stateful_stream_carries_state_across_batches_and_resets_each_epoch():
    states = []

    def recording(model, batch, state):
        states.append(state)
        return objective(model, batch, state)

    fit(TinyLSTM(), recording, sine_batches(3, batch=2, steps=5), quiet(epochs=2, stateful=True))
    assert [s is None for s in states] == [True, False, False, True, False, False]
    assert all(not h.requires_grad for s in states if s is not None for h in s)


def test_split_time_cuts_time_dim_and_keeps_small_tensors():
    x, lengths = torch.arange(2 * 7).reshape(2, 7), torch.tensor([7, 5])
    chunks = split_time((x, lengths), 3)
    assert [c[0].shape[1] for c in chunks] == [3, 3, 1]
    assert all(c[1] is lengths for c in chunks)
    with pytest.raises(ValueError, match=r"different lengths \[5, 7\] along time_dim=1"):
        split_time((x, torch.zeros(2, 5)), 3)


def test_data_function_gets_epoch_numbers():
    epochs = []

    def data(epoch):
        epochs.append(epoch)
        return linear_data(seed=epoch)

    fit(nn.Linear(3, 1), linear_objective, data, quiet(epochs=3))
    assert epochs == [1, 2, 3]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_metric_log_and_learning_curve_png(tmp_path, suffix):
    log, png = tmp_path / f"metrics{suffix}", tmp_path / "plots" / "curves.png"
    cfg = quiet(epochs=3, log_path=str(log))
    result = fit(
        nn.Linear(3, 1),
        linear_objective,
        linear_data(),
        cfg,
        val_data=linear_data(1),
        callbacks=[LearningCurves(png)],
    )
    rows = read_history(log)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    for row, expected in zip(rows, result.history, strict=True):
        assert set(row) == {"epoch", "train_loss", "val_loss", "lr", "grad_norm"} | {
            "grad_norm_max",
            "seconds",
        }
        assert row["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-12)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_prints_epoch_summaries(capsys):
    fit(nn.Linear(3, 1), linear_objective, linear_data(), TrainConfig(epochs=2))
    err = capsys.readouterr()
    assert "epoch 2/2 train_loss=" in err.out + err.err
    fit(nn.Linear(3, 1), linear_objective, linear_data(), quiet(epochs=2))
    err = capsys.readouterr()
    assert err.out + err.err == ""


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (
            {"optimizer": "rmsprop"},
            ValueError,
            "optimizer must be one of 'sgd', 'adam', 'adamw', got 'rmsprop'",
        ),
        ({"lr": -1.0}, ValueError, "lr must be > 0, got -1.0"),
        ({"epochs": 2.5}, TypeError, r"epochs must be an int, got 2.5 \(float\)"),
        ({"tbptt": 0}, ValueError, "tbptt must be >= 1, got 0"),
        ({"log_path": "m.txt"}, ValueError, "log_path must end in .csv or .jsonl, got 'm.txt'"),
        ({"schedule": "linear"}, ValueError, "schedule must be one of 'none', 'step'"),
        ({"max_seconds": -1.5}, ValueError, "max_seconds must be > 0, got -1.5"),
        ({"max_seconds": "60"}, TypeError, r"max_seconds must be a number, got '60' \(str\)"),
        ({"max_steps": 0}, ValueError, "max_steps must be >= 1, got 0"),
        ({"schedule_per": "batch"}, ValueError, "schedule_per must be one of 'epoch', 'step'"),
        (
            {"schedule_per": "step", "schedule": "plateau"},
            ValueError,
            "schedule_per='step' works with schedule 'none' or 'cosine', got 'plateau'",
        ),
    ],
)
def test_config_rejects_bad_values(kw, error, message):
    with pytest.raises(error, match=message):
        TrainConfig(**kw)


def test_config_round_trips_through_json():
    cfg = TrainConfig(epochs=3, schedule="cosine", tbptt=5, checkpoint_dir="runs/x")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})


def test_bad_objective_and_data_errors():
    model, data = nn.Linear(3, 1), linear_data()
    with pytest.raises(ValueError, match=r"loss of shape \(32, 1\); reduce it to a scalar"):
        fit(model, lambda m, b, s: (m(b[0]) - b[1]) ** 2, data, quiet(epochs=1))
    with pytest.raises(
        TypeError, match="scalar loss tensor or a tuple \\(loss, state\\), got float"
    ):
        fit(model, lambda m, b, s: 1.0, data, quiet(epochs=1))
    with pytest.raises(TypeError, match="one-shot iterator"):
        fit(model, linear_objective, iter(data), quiet(epochs=1))
    with pytest.raises(ValueError, match="train_data yielded no batches in epoch 1"):
        fit(model, linear_objective, [], quiet(epochs=1))
    with pytest.raises(ValueError, match=r"monitor 'f1' is not among this epoch's metrics"):
        fit(model, linear_objective, data, quiet(epochs=1, monitor="f1"), val_data=data)
    with pytest.raises(ValueError, match="loss does not require grad"):
        fit(model, lambda m, b, s: linear_objective(m, b, s).detach(), data, quiet(epochs=1))
    with pytest.raises(TypeError, match="evaluate returned acc='high', which is not a number"):
        fit(model, linear_objective, data, quiet(epochs=1), evaluate=lambda m, d: {"acc": "high"})


def test_learning_curve_rejects_empty_history(tmp_path):
    with pytest.raises(ValueError, match="history is empty: train at least one epoch"):
        plot_learning_curves([], tmp_path / "c.png")


# -- budgets and the per-step schedule ------------------------------------------------------------
class Steps:
    """Objective that records the rate of each step it computes and can take its time."""

    def __init__(self, sleep=0.0, interrupt_at=None):
        self.trainer, self.sleep, self.interrupt_at = None, sleep, interrupt_at
        self.lrs, self.starts, self.calls = [], [], 0
        self.budget_before = []  # the trainer's time of the epochs completed before each step

    def __call__(self, model, batch, state):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        if model.training:
            self.lrs.append(self.trainer.optimizer.param_groups[0]["lr"])
            self.starts.append(time.perf_counter())
            self.budget_before.append(self.trainer.seconds)
        time.sleep(self.sleep)
        return linear_objective(model, batch, state)


def budget_trainer(steps, **kw):
    torch.manual_seed(0)
    trainer = Trainer(nn.Linear(3, 1), steps, quiet(**{"optimizer": "sgd", "lr": 1.0, **kw}))
    steps.trainer = trainer
    return trainer


def cosine(p, lr=1.0, min_lr=0.1):
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * p)) / 2


def test_max_seconds_stops_after_the_step_that_spends_it_then_validates_and_saves(tmp_path):
    # 1000 epochs of 4 steps of >= 30 ms would take two minutes; 0.4 s ends the run.
    steps = Steps(sleep=0.03)
    trainer = budget_trainer(
        steps, epochs=1000, max_seconds=0.4, checkpoint_dir=str(tmp_path), min_lr=0.1,
        schedule="cosine", schedule_per="step",
    )  # fmt: skip
    start = time.perf_counter()
    result = trainer.fit(linear_data() * 4, linear_data(1))
    wall = time.perf_counter() - start
    assert (result.stop_reason, result.stopped_early) == ("max_seconds", True)
    assert result.history[-1]["stopped"] == "max_seconds"
    # Stopped right after the step during which the budget ran out, no later.
    spent = sum(row["seconds"] for row in result.history)
    assert trainer.seconds == pytest.approx(spent)
    # The budget's clock at the last step's start (the completed epochs' time plus this
    # epoch's so far; checkpoint writes between epochs do not count, so a loaded machine
    # slowing them changes nothing) was still under 0.4 s.
    first = steps.budget_before.index(steps.budget_before[-1])
    clock = steps.budget_before[-1] + steps.starts[-1] - steps.starts[first]
    assert spent >= 0.4 > clock and wall < 5
    # The partial last epoch was validated, logged, checkpointed and judged like the others.
    assert len(result.history) == math.ceil(len(steps.lrs) / 4)
    assert all(math.isfinite(row["val_loss"]) for row in result.history)
    assert read_checkpoint(tmp_path).epoch == len(result.history)
    assert read_checkpoint(tmp_path).meta["spent"]["seconds"] == pytest.approx(spent)
    # The rate fell along the cosine of time and the schedule ends at min_lr.
    assert steps.lrs[0] == pytest.approx(1.0, abs=1e-3)
    assert steps.lrs == sorted(steps.lrs, reverse=True)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("warmup", [0, 1])
def test_per_step_cosine_follows_the_formula_and_ends_at_min_lr(warmup):
    # 3 batches an epoch; max_steps=10 ends the run inside epoch 4 (of 5: 15 steps).
    steps = Steps()
    trainer = budget_trainer(
        steps, epochs=5, max_steps=10, min_lr=0.1, schedule="cosine", schedule_per="step",
        warmup_epochs=warmup,
    )  # fmt: skip
    result = trainer.fit(linear_data() * 3)
    w = warmup / 5  # the warm-up's share of the run: 2 of its 10 steps
    expected = [s / 10 / w if s / 10 < w else cosine((s / 10 - w) / (1 - w)) for s in range(10)]
    assert steps.lrs == pytest.approx(expected, rel=1e-12)
    assert steps.lrs[5] == pytest.approx(cosine((0.5 - w) / (1 - w)))  # the middle step
    assert trainer.optimizer.param_groups[0]["lr"] == 0.1
    assert result.stop_reason == "max_steps" and trainer.steps == 10
    assert [row["lr"] for row in result.history] == [steps.lrs[i] for i in (2, 5, 8, 9)]


def test_per_step_schedule_without_budget_spans_epochs_times_batches():
    steps = Steps()
    trainer = budget_trainer(steps, epochs=4, min_lr=0.1, schedule="cosine", schedule_per="step")
    result = trainer.fit(linear_data() * 3)
    assert steps.lrs == pytest.approx([cosine(s / 12) for s in range(12)], rel=1e-12)
    assert result.stop_reason is None and not result.stopped_early
    assert "stopped" not in result.history[-1]
    with pytest.raises(ValueError, match="schedule_per='step' needs the length of the run"):
        fit(nn.Linear(3, 1), linear_objective, lambda epoch: iter(linear_data()),
            quiet(schedule="cosine", schedule_per="step"))  # fmt: skip


@pytest.mark.parametrize("interrupt_at", [7, 9])  # epoch 3 before its first step; in it
def test_per_step_schedule_resumes_exactly_after_ctrl_c(tmp_path, interrupt_at):
    settings = dict(
        epochs=4, max_steps=10, min_lr=0.1, schedule="cosine", schedule_per="step",
        warmup_epochs=1, optimizer="adam", lr=0.1,
    )  # fmt: skip
    data = [(x + i, y + i) for i, (x, y) in enumerate(linear_data() * 3)]
    once = Steps()
    whole = budget_trainer(once, **settings).fit(data)

    cut = Steps(interrupt_at=interrupt_at)
    trainer = budget_trainer(cut, **settings, checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingInterrupted, match=f"epoch 3, step {interrupt_at - 7}"):
        trainer.fit(data)
    assert read_checkpoint(tmp_path).meta["spent"]["steps"] == 6
    rest = Steps()
    torch.manual_seed(99)
    resumed = budget_trainer(rest, **settings, checkpoint_dir=str(tmp_path))
    result = resumed.fit(data, resume=True)
    assert cut.lrs + rest.lrs == once.lrs
    for a, b in zip(result.model.parameters(), whole.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert result.stop_reason == "max_steps" and resumed.steps == 10


def test_a_resumed_time_budget_gets_only_the_remainder(tmp_path):
    cut = Steps(sleep=0.03, interrupt_at=6)  # Ctrl-C after 5 steps: >= 0.15 s of 0.5 s spent
    settings = dict(epochs=1000, max_seconds=0.5, checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingInterrupted):
        budget_trainer(cut, **settings).fit(linear_data() * 4)
    saved = read_checkpoint(tmp_path).meta
    before = saved["spent"]["seconds"] + saved["partial"]["seconds"]
    assert before >= 0.15
    rest = Steps(sleep=0.03)
    trainer = budget_trainer(rest, **settings)
    result = trainer.fit(linear_data() * 4, resume=True)
    assert result.stop_reason == "max_seconds"
    # The clock went on from the saved time: the whole run, both parts, spent the budget.
    assert trainer.seconds >= 0.5 and trainer.seconds - before < 0.5
    assert trainer.steps == len(cut.lrs) + len(rest.lrs)
