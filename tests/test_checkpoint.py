"""Tests for lstmkit.train checkpoints: exact resume (between and inside epochs), Ctrl-C,
atomic writes under a simulated crash, and clear errors for corrupt or foreign checkpoints."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import safetensors
import torch
import torch.nn.functional as F
from tiny_models import TinyLSTM, objective
from torch import nn

from lstmkit.train import (
    CheckpointError,
    TrainConfig,
    Trainer,
    TrainingInterrupted,
    fit,
    load_weights,
    read_checkpoint,
)
from lstmkit.train import checkpoint as ckpt_module

torch.set_num_threads(1)


def _tiny(hidden: int = 6) -> TinyLSTM:
    """The model these tests checkpoint: dropout on, so RNG state matters on resume."""
    return TinyLSTM(hidden, dropout=0.25)


def dataset(n=24, steps=12):
    g = torch.Generator().manual_seed(0)
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    wave = torch.sin(torch.arange(steps + 1) * 0.4 + phase).unsqueeze(-1)
    return torch.utils.data.TensorDataset(wave[:, :-1], wave[:, 1:])


def loader(own_generator=False):
    generator = torch.Generator().manual_seed(7) if own_generator else None
    return torch.utils.data.DataLoader(dataset(), batch_size=8, shuffle=True, generator=generator)


def config(tmp_path, **kw):
    base = dict(epochs=4, lr=0.01, schedule="step", step_size=1, gamma=0.7, warmup_epochs=1)
    base.update(kw)
    return TrainConfig(progress=False, checkpoint_dir=str(tmp_path), **base)


def new_model(seed=0):
    torch.manual_seed(seed)
    return _tiny()


def assert_same_run(a, b):
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in a.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in b.history]


@pytest.mark.parametrize("own_generator", [False, True])
def test_two_plus_two_epochs_equal_four_bit_for_bit(tmp_path, own_generator):
    once = fit(new_model(), objective, loader(own_generator), config(tmp_path / "once"))
    cfg = config(tmp_path / "split", epochs=2)
    fit(new_model(), objective, loader(own_generator), cfg, val_data=None)
    torch.manual_seed(999)  # a new process would start from other generator states
    resumed = fit(
        new_model(seed=1),  # other initial weights: the checkpoint must replace them
        objective,
        loader(own_generator),
        config(tmp_path / "split"),
        resume=True,
    )
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert_same_run(once, resumed)
    assert read_checkpoint(tmp_path / "split").epoch == 4


class Interrupt:
    """Objective that presses Ctrl-C on its n-th call (training and validation calls)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, model, batch, state):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return objective(model, batch, state)


@pytest.mark.parametrize(
    ("n", "where"),
    # Each epoch makes 3 training calls, then 1 validation call.
    [
        (11, "epoch 3, step 2"),  # inside epoch 3, two steps done
        (9, "epoch 3, step 0"),  # before epoch 3's first step finished
        (8, "epoch 2, step 3"),  # during epoch 2's validation
    ],
)
@pytest.mark.parametrize("own_generator", [False, True])
def test_ctrl_c_saves_checkpoint_and_resume_is_exact(tmp_path, n, where, own_generator):
    val = [dataset()[:8]]
    once = fit(new_model(), objective, loader(own_generator), config(tmp_path / "a"), val_data=val)
    cfg = config(tmp_path / "cut")
    with pytest.raises(TrainingInterrupted, match=f"interrupted at {where}.*resume with") as info:
        fit(new_model(), Interrupt(n), loader(own_generator), cfg, val_data=val)
    assert info.value.checkpoint == tmp_path / "cut" / "checkpoint.json"
    partial = read_checkpoint(info.value.checkpoint).meta["partial"]
    assert (partial is None) == where.endswith("step 0")  # nothing of the epoch to keep
    torch.manual_seed(999)
    resumed = fit(
        new_model(seed=1), objective, loader(own_generator), cfg, val_data=val, resume=True
    )
    assert_same_run(once, resumed)


def test_ctrl_c_mid_batch_with_tbptt_and_stateful_stream_resumes_exactly(tmp_path):
    data = [dataset(8, 12)[i : i + 4] for i in (0, 4)]  # 2 batches of 12 steps, 3 chunks each
    cfg = config(tmp_path / "cut", tbptt=4, stateful=True)
    once = fit(new_model(), objective, data, config(tmp_path / "once", tbptt=4, stateful=True))
    with pytest.raises(TrainingInterrupted, match="epoch 2, step 5"):
        fit(new_model(), Interrupt(6 + 5 + 1), data, cfg)  # epoch 2, batch 2, chunk 3
    saved = read_checkpoint(tmp_path / "cut")
    assert saved.meta["partial"]["batches"] == 1 and saved.meta["partial"]["chunks"] == 2
    assert set(saved.group("carry")) == {"0", "1"}  # (h, c) carried into the next chunk
    resumed = fit(new_model(seed=1), objective, data, cfg, resume=True)
    assert_same_run(once, resumed)


def test_sigint_during_optimizer_step_lets_the_update_finish(tmp_path):
    trainer = Trainer(new_model(), objective, config(tmp_path))
    real_step, calls = trainer.optimizer.step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # a real Ctrl-C arriving in the middle of an update
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args, **kwargs)

    trainer.optimizer.step = step
    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 1, step 2;"):
        trainer.fit(loader())
    once = fit(new_model(), objective, loader(), config(tmp_path / "once"))
    resumed = fit(new_model(seed=1), objective, loader(), config(tmp_path), resume=True)
    assert_same_run(once, resumed)


def test_checkpoint_every_n_epochs_and_at_the_end(tmp_path, monkeypatch):
    saved, real_save = [], Trainer.save

    def save(self, directory=None):
        saved.append(self.epoch)
        return real_save(self, directory)

    monkeypatch.setattr(Trainer, "save", save)
    fit(new_model(), objective, loader(), config(tmp_path, epochs=5, checkpoint_every=2))
    assert saved == [2, 4, 5]
    assert len(list(tmp_path.glob("weights-*.safetensors"))) == 1  # older ones are removed


def test_interrupt_without_checkpoint_dir_says_nothing_saved():
    cfg = TrainConfig(epochs=2, progress=False)
    with pytest.raises(TrainingInterrupted, match=r"nothing was saved") as info:
        fit(new_model(), Interrupt(2), loader(), cfg)
    assert info.value.checkpoint is None and info.value.epoch == 1


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("crash_on", ["weights", "checkpoint.json"])
def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch, crash_on):
    fit(new_model(), objective, loader(), config(tmp_path, epochs=1))
    before = _files(tmp_path)
    real_replace = ckpt_module.os.replace

    def crashing_replace(src, dst):
        if crash_on in str(dst):
            raise OSError("simulated power cut")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt_module.os, "replace", crashing_replace)
    with pytest.raises(OSError, match="simulated power cut"):
        fit(new_model(), objective, loader(), config(tmp_path, epochs=2), resume=True)
    monkeypatch.undo()
    after = _files(tmp_path)
    assert not [name for name in after if name.endswith(".tmp")]
    for name, data in before.items():
        assert after[name] == data  # nothing of the old checkpoint was touched
    restored = read_checkpoint(tmp_path)
    assert restored.epoch == 1
    model = new_model(seed=1)
    load_weights(model, tmp_path, which="last")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in restored.group("model").items())


def _trained(tmp_path, **kw):
    model = new_model()
    fit(model, objective, loader(), config(tmp_path, epochs=1), model_config={"hidden": 6}, **kw)
    return model


def _weights_file(folder):
    return next(folder.glob("weights-*.safetensors"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: _weights_file(d).write_bytes(_weights_file(d).read_bytes()[:100]),
            "corrupt: its SHA-256",
        ),
        (lambda d: _weights_file(d).unlink(), "cannot be read"),
        (lambda d: (d / "checkpoint.json").write_text('{"epoch": 1, "wei'), "not valid JSON"),
        (
            lambda d: (d / "checkpoint.json").write_text('{"epoch": 1}'),
            "not an lstmkit training checkpoint",
        ),
        (lambda d: _drop_field(d, "history"), r"missing the fields \['history'\]"),
        (
            lambda d: _drop_field(d, "optimizer"),
            "incomplete or malformed: KeyError\\('optimizer'\\)",
        ),
        (lambda d: (d / "checkpoint.json").unlink(), "no checkpoint at"),
    ],
)
def test_corrupt_checkpoint_raises_and_changes_nothing(tmp_path, damage, message):
    _trained(tmp_path)
    damage(tmp_path)
    files = _files(tmp_path)
    model = new_model(seed=3)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=message):
        fit(model, objective, loader(), config(tmp_path, epochs=2), resume=True)
    assert _files(tmp_path) == files
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())


def _drop_field(folder, name):
    meta = json.loads((folder / "checkpoint.json").read_text())
    del meta[name]
    (folder / "checkpoint.json").write_text(json.dumps(meta))


def test_foreign_checkpoints_are_refused(tmp_path):
    _trained(tmp_path)
    with pytest.raises(CheckpointError, match=r"lstm.weight_ih_l0 has shape \(24, 1\) in the"):
        load_weights(_tiny(hidden=8), tmp_path)
    with pytest.raises(CheckpointError, match=r"different model \(hidden: saved 6 vs given 8\)"):
        load_weights(_tiny(), tmp_path, model_config={"hidden": 8})
    with pytest.raises(CheckpointError, match=r"missing \['weight'\], unexpected \['head.bias'"):
        load_weights(nn.Linear(1, 1, bias=False), tmp_path)
    with pytest.raises(CheckpointError, match=r"TrainConfig differs \(lr: saved 0.01 vs now 0.1\)"):
        fit(_tiny(), objective, loader(), config(tmp_path, lr=0.1), resume=True)
    with pytest.raises(CheckpointError, match="optimizer is Adam, this run uses"):
        trainer = Trainer(_tiny(), objective, config(tmp_path))
        trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=0.01)
        trainer.load(tmp_path)


def test_checkpoint_files_are_safetensors_and_json(tmp_path):
    _trained(tmp_path)
    meta = json.loads((tmp_path / "checkpoint.json").read_text())
    assert meta["model_config"] == {"hidden": 6}
    assert TrainConfig.from_dict(meta["train_config"]) == config(tmp_path, epochs=1)
    assert meta["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]
    with safetensors.safe_open(_weights_file(tmp_path), framework="pt") as handle:
        names = set(handle.keys())
    assert {"model.head.weight", "rng.torch", "optim.0.exp_avg", "optim.0.step"} <= names


def test_resume_restores_optimizer_state_exactly(tmp_path):
    trainer = Trainer(new_model(), objective, config(tmp_path, epochs=1))
    trainer.fit(loader())
    other = Trainer(new_model(seed=5), objective, config(tmp_path, epochs=1))
    other.load(tmp_path)
    a, b = trainer.optimizer.state_dict(), other.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert isinstance(b["param_groups"][0]["betas"], tuple)
    for pid, state in a["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["state"][pid][key]), (pid, key)


def test_best_and_last_weights_and_tied_parameters(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(5, 3)
            self.out = nn.Linear(3, 5, bias=False)
            self.out.weight = self.embed.weight  # shared storage: safetensors needs a copy

        def forward(self, x):
            return self.out(self.embed(x))

    tokens = torch.randint(0, 5, (16,), generator=torch.Generator().manual_seed(0))
    scores = iter([1.0, 0.5, 0.9])
    result = fit(
        Tied(),
        lambda m, b, s: F.cross_entropy(m(b), b),
        [tokens],
        TrainConfig(epochs=3, lr=0.1, progress=False, checkpoint_dir=str(tmp_path)),
        evaluate=lambda m, d: {"val_loss": next(scores)},
    )
    assert result.best_epoch == 2
    best, last = Tied(), Tied()
    load_weights(best, tmp_path)
    load_weights(last, tmp_path, which="last")
    assert torch.equal(best.embed.weight, result.model.embed.weight)  # best restored
    assert not torch.equal(best.embed.weight, last.embed.weight)


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        fit(new_model(), objective, loader(), config(tmp_path), resume=True)
    with pytest.raises(ValueError, match=r"resume=True needs TrainConfig.checkpoint_dir"):
        fit(new_model(), objective, loader(), TrainConfig(progress=False), resume=True)


_SCRIPT = """
import sys, time, torch
from lstmkit.train import TrainConfig, TrainingInterrupted, fit
torch.set_num_threads(1)
def objective(model, batch, state):
    if state is None and len(sys.argv) > 2:
        print("training", flush=True)
        time.sleep(0.01)
    return torch.nn.functional.mse_loss(model(batch), batch)
data = [torch.arange(8.0).reshape(4, 2)] * 10
cfg = TrainConfig(epochs=10**6, progress=False, checkpoint_dir=sys.argv[1])
try:
    fit(torch.nn.Linear(2, 2), objective, data, cfg, resume=len(sys.argv) == 2)
except TrainingInterrupted as exc:
    print(exc, flush=True)
    sys.exit(130)
"""


def test_real_ctrl_c_in_a_process_saves_a_resumable_checkpoint(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(tmp_path), "go"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(15):  # into the second epoch, so the checkpoint is mid-epoch
        assert proc.stdout.readline() == "training\n"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "training interrupted at epoch" in out and "resume with" in out
    done = read_checkpoint(tmp_path).epoch  # epochs finished before the signal
    cfg = TrainConfig(epochs=done + 1, progress=False, checkpoint_dir=str(tmp_path))
    data = [torch.arange(8.0).reshape(4, 2)] * 10
    result = fit(nn.Linear(2, 2), lambda m, b, s: F.mse_loss(m(b), b), data, cfg, resume=True)
    assert [row["epoch"] for row in result.history] == list(range(1, done + 2))
