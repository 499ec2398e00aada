"""DDP: two gloo processes on loopback train the same weights as one process at the same
global batch (float64), for a forecast-like and a stateful LM-like objective; only rank 0
writes files."""

from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp
from loopback import free_port
from safetensors.torch import load_file, save_file
from torch import nn

from lstmkit.train import TrainConfig, fit
from lstmkit.train.distributed import shard_batch

STEPS_PER_EPOCH, EPOCHS = 3, 2  # K = 6 optimizer steps


class Regressor(nn.Module):
    """A forecast-like net: an LSTM over (B, T, F) windows and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


class LanguageModel(nn.Module):
    """A stateful LM: the state of each stream flows from one piece of it to the next."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(7, 4)
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.head = nn.Linear(6, 7)

    def forward(self, x, state=None):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def regression_loss(model, batch, state):
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def lm_loss(model, batch, state):
    x, y = batch
    logits, state = model(x, state)
    return nn.functional.cross_entropy(logits.reshape(-1, 7), y.reshape(-1)), state


def make_problem(kind: str, seed: int):
    """(model, objective, batches, config) from ``seed``: the same in every process."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if kind == "forecast":
        model = Regressor().double()
        batches = [
            (torch.randn(8, 6, 2, generator=gen, dtype=torch.float64),
             torch.randn(8, 3, generator=gen, dtype=torch.float64))
            for _ in range(STEPS_PER_EPOCH)
        ]  # fmt: skip
        return model, regression_loss, batches, TrainConfig(epochs=EPOCHS, lr=0.01, seed=seed)
    model = LanguageModel().double()
    streams = torch.randint(0, 7, (4, 5 * STEPS_PER_EPOCH + 1), generator=gen)
    batches = [
        (streams[:, t : t + 5], streams[:, t + 1 : t + 6]) for t in range(0, 5 * STEPS_PER_EPOCH, 5)
    ]
    config = TrainConfig(epochs=EPOCHS, lr=0.01, seed=seed, stateful=True)
    return model, lm_loss, batches, config


def _rank_main(rank: int, world: int, port: int, kind: str, seed: int, out: str) -> None:
    import dataclasses

    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        model, objective, batches, config = make_problem(kind, seed)
        config = dataclasses.replace(
            config, checkpoint_dir=f"{out}/ckpt-rank{rank}", progress=False
        )
        rows = []

        def counted(model_, batch, state):  # the examples this rank trains on
            rows.append(batch[0].shape[0] if model_.training else 0)
            return objective(model_, batch, state)

        result = fit(model, counted, batches, config)
        weights = {k: v.contiguous() for k, v in result.model.state_dict().items()}
        save_file(weights, f"{out}/weights-rank{rank}.safetensors")
        with open(f"{out}/loss-rank{rank}.txt", "w") as f:
            f.write(f"{result.history[-1]['train_loss']!r} {sum(rows)}")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize("kind", ["forecast", "lm"])
def test_two_processes_train_the_weights_of_one(kind, tmp_path):
    seed = int(torch.randint(0, 10_000, ()))
    model, objective, batches, config = make_problem(kind, seed)
    single = fit(model, objective, batches, config)
    world = 2
    mp.spawn(_rank_main, args=(world, free_port(), kind, seed, str(tmp_path)), nprocs=world)
    for rank in range(world):
        got = load_file(str(tmp_path / f"weights-rank{rank}.safetensors"))
        for name, value in single.model.state_dict().items():
            torch.testing.assert_close(got[name], value, atol=1e-8, rtol=0, msg=name)
    # The logged loss is the mean over the ranks: the one-process loss of the global batch.
    logged = [(tmp_path / f"loss-rank{r}.txt").read_text().split() for r in range(world)]
    losses = [float(loss) for loss, _ in logged]
    # Each rank trained on its own half of every batch (of the streams, for the LM).
    total = sum(len(b[0]) for b in batches) * EPOCHS
    assert [int(rows) for _, rows in logged] == [total // world] * world
    assert losses[0] == losses[1] == pytest.approx(single.history[-1]["train_loss"], abs=1e-10)
    # Only rank 0 writes the checkpoint.
    assert any((tmp_path / "ckpt-rank0").iterdir())
    assert not (tmp_path / "ckpt-rank1").exists()


def test_shard_batch_cuts_the_batch_dimension():
    x, lengths = torch.randn(5, 3, 2), torch.arange(5)
    parts = [shard_batch((x, lengths), r, 2) for r in range(2)]
    torch.testing.assert_close(torch.cat([p[0] for p in parts]), x)
    assert [len(p[1]) for p in parts] == [3, 2]
    time_first = shard_batch(torch.zeros(4, 6), 1, 2, time_dim=0)
    assert time_first.shape == (4, 3)
    with pytest.raises(ValueError, match="at least 3"):
        shard_batch(torch.zeros(2, 4), 0, 3)


def _dying_rank_main(rank: int, port: int, out: str) -> None:
    import datetime
    import os
    import time

    torch.distributed.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=20),
    )
    if rank == 1:
        with open(f"{out}/death.txt", "w") as f:
            f.write(repr(time.time()))
        os._exit(3)  # dies without a word, as a killed process does
    model, objective, batches, config = make_problem("forecast", 0)
    try:
        fit(model, objective, batches, config)
        outcome = "finished"
    except Exception as err:  # what the survivor sees instead of a hang
        outcome = f"{type(err).__name__}"
    with open(f"{out}/survivor.txt", "w") as f:
        f.write(f"{outcome} {time.time()}")


def test_a_dead_rank_makes_the_other_fail_within_the_timeout(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [
        context.Process(target=_dying_rank_main, args=(rank, port, str(tmp_path)))
        for rank in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    alive = [p.is_alive() for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert alive == [False, False], "the surviving rank hung"
    assert procs[1].exitcode == 3
    outcome, stopped = (tmp_path / "survivor.txt").read_text().split()
    # From the death on, not counting the survivor's own start-up on a loaded machine.
    died = float((tmp_path / "death.txt").read_text())
    assert outcome == "RankFailure" and float(stopped) - died < 60
