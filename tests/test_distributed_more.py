"""DDP beyond the even case: a resumed 2-process run equals an uninterrupted one; batches
that do not divide by the rank count still train the one-process weights; a time budget
ends every rank at the same step; a rank dying mid-epoch stops the other at once."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import signal
import time

import pytest
import torch
from loopback import free_port
from safetensors.torch import load_file, save_file
from test_distributed import make_problem, regression_loss

from lstmkit.train import Callback, fit

SECONDS_BEFORE_TIMEOUT = 30  # the process group's timeout in these tests


class CtrlCAt(Callback):
    """A real SIGINT after a global optimizer step, on every rank (torchrun forwards it)."""

    def __init__(self, global_step: int) -> None:
        self.global_step = global_step

    def on_step_end(self, trainer, step) -> None:
        if step.global_step == self.global_step:
            signal.raise_signal(signal.SIGINT)


def _init(rank: int, world: int, port: int) -> None:
    import datetime

    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=SECONDS_BEFORE_TIMEOUT),
    )  # fmt: skip


def _save(result, out: str, tag: str, rank: int) -> None:
    weights = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(weights, f"{out}/{tag}-rank{rank}.safetensors")


def _resume_main(rank: int, world: int, port: int, job: dict) -> None:
    from lstmkit.train import TrainingInterrupted

    _init(rank, world, port)
    try:
        model, objective, batches, config = make_problem(job["kind"], job["seed"])
        config = dataclasses.replace(config, checkpoint_dir=job["checkpoint"], progress=False)
        if job["interrupt"] is not None:
            try:
                fit(model, objective, batches, config, callbacks=[CtrlCAt(job["interrupt"])])
            except TrainingInterrupted as err:
                with open(f"{job['out']}/interrupted-rank{rank}.txt", "w") as f:
                    f.write(str(err.checkpoint is not None))
            return
        result = fit(model, objective, batches, config, resume=job["resume"])
        _save(result, job["out"], job["tag"], rank)
    finally:
        torch.distributed.destroy_process_group()


def _spawn(target, world: int, job: dict) -> None:
    torch.multiprocessing.spawn(target, args=(world, free_port(), job), nprocs=world)


@pytest.mark.parametrize("kind", ["forecast", "lm"])
def test_a_resumed_two_process_run_equals_an_uninterrupted_one(kind, tmp_path):
    seed = int(torch.randint(0, 10_000, ()))
    model, objective, batches, config = make_problem(kind, seed)
    single = fit(model, objective, batches, config).model.state_dict()
    base = {"kind": kind, "seed": seed, "out": str(tmp_path)}
    whole = {**base, "checkpoint": str(tmp_path / "whole"), "interrupt": None, "resume": False}
    _spawn(_resume_main, 2, {**whole, "tag": "whole"})
    cut = {**base, "checkpoint": str(tmp_path / "cut"), "resume": False}
    _spawn(_resume_main, 2, {**cut, "interrupt": 4})  # mid-epoch 2 of 2 (3 steps an epoch)
    # Rank 0 saved the checkpoint; rank 1 only stopped. Both resume from it.
    saved = [(tmp_path / f"interrupted-rank{r}.txt").read_text() for r in range(2)]
    assert saved == ["True", "False"]
    _spawn(_resume_main, 2, {**cut, "interrupt": None, "resume": True, "tag": "cut"})
    for rank in range(2):
        resumed = load_file(str(tmp_path / f"cut-rank{rank}.safetensors"))
        uninterrupted = load_file(str(tmp_path / f"whole-rank{rank}.safetensors"))
        for name, value in uninterrupted.items():
            torch.testing.assert_close(resumed[name], value, atol=0, rtol=0, msg=name)
            torch.testing.assert_close(value, single[name], atol=1e-8, rtol=0, msg=name)


def odd_problem(seed: int):
    """A forecast-like problem whose batches (7, 5, 3 rows) do not divide by 2 or 3 ranks."""
    model, _, _, config = make_problem("forecast", seed)
    gen = torch.Generator().manual_seed(seed + 1)
    batches = [
        (torch.randn(n, 6, 2, generator=gen, dtype=torch.float64),
         torch.randn(n, 3, generator=gen, dtype=torch.float64))
        for n in (7, 5, 3)
    ]  # fmt: skip
    return model, regression_loss, batches, config


def _odd_main(rank: int, world: int, port: int, job: dict) -> None:
    _init(rank, world, port)
    try:
        model, objective, batches, config = odd_problem(job["seed"])
        result = fit(model, objective, batches, dataclasses.replace(config, progress=False))
        _save(result, job["out"], "odd", rank)
        with open(f"{job['out']}/odd-loss-rank{rank}.txt", "w") as f:
            f.write(repr(result.history[-1]["train_loss"]))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_batches_that_do_not_divide_by_the_ranks_train_the_one_process_weights(world, tmp_path):
    seed = int(torch.randint(0, 10_000, ()))
    model, objective, batches, config = odd_problem(seed)
    single = fit(model, objective, batches, config)
    _spawn(_odd_main, world, {"seed": seed, "out": str(tmp_path)})
    for rank in range(world):
        got = load_file(str(tmp_path / f"odd-rank{rank}.safetensors"))
        for name, value in single.model.state_dict().items():
            torch.testing.assert_close(got[name], value, atol=1e-8, rtol=0, msg=name)
        logged = float((tmp_path / f"odd-loss-rank{rank}.txt").read_text())
        assert logged == pytest.approx(single.history[-1]["train_loss"], abs=1e-10)


def _budget_main(rank: int, world: int, port: int, job: dict) -> None:
    _init(rank, world, port)
    try:
        model, objective, batches, config = make_problem("forecast", job["seed"])

        def slow(model_, batch, state):  # rank 1's steps take longer than rank 0's
            time.sleep(0.02 * (1 + 3 * rank))
            return objective(model_, batch, state)

        config = dataclasses.replace(
            config, epochs=1000, max_seconds=1.0, schedule="cosine", schedule_per="step",
            progress=False,
        )  # fmt: skip
        result = fit(model, slow, batches, config)
        _save(result, job["out"], "budget", rank)
        rows = [{k: r[k] for k in ("epoch", "lr", "train_loss")} for r in result.history]
        with open(f"{job['out']}/budget-rank{rank}.json", "w") as f:
            json.dump({"rows": rows, "stop": result.stop_reason}, f)
    finally:
        torch.distributed.destroy_process_group()


def test_a_time_budget_ends_every_rank_at_the_same_step(tmp_path):
    # Each rank's own clock would stop rank 1 first (and its lr would differ): DDP would
    # hang in the next step's gradient all-reduce, or the weights drift apart.
    _spawn(_budget_main, 2, {"seed": 5, "out": str(tmp_path)})
    runs = [json.loads((tmp_path / f"budget-rank{r}.json").read_text()) for r in range(2)]
    assert runs[0] == runs[1] and runs[0]["stop"] == "max_seconds"
    a, b = (load_file(str(tmp_path / f"budget-rank{r}.safetensors")) for r in range(2))
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=0, rtol=0, msg=name)


def _dies_mid_epoch(rank: int, port: int, out: str) -> None:
    import os

    _init(rank, 2, port)
    model, objective, batches, config = make_problem("forecast", 0)
    calls = []

    def objective_(model_, batch, state):
        calls.append(1)
        if rank == 1 and len(calls) == 4:  # the first step of epoch 2
            with open(f"{out}/death.txt", "w") as f:
                f.write(repr(time.time()))
            os._exit(3)  # dies without a word, as a killed process does
        return objective(model_, batch, state)

    try:
        fit(model, objective_, batches, dataclasses.replace(config, progress=False))
        outcome = "finished"
    except Exception as err:
        outcome = type(err).__name__
    with open(f"{out}/survivor.txt", "w") as f:
        f.write(f"{outcome} {time.time()}")


def test_a_rank_dying_mid_epoch_stops_the_other_before_the_timeout(tmp_path):
    context = multiprocessing.get_context("spawn")
    port = free_port()
    procs = [
        context.Process(target=_dies_mid_epoch, args=(rank, port, str(tmp_path)))
        for rank in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=4 * SECONDS_BEFORE_TIMEOUT)
    alive = [p.is_alive() for p in procs]
    for p in procs:
        if p.is_alive():
            p.kill()
    assert alive == [False, False], "the surviving rank hung"
    assert procs[1].exitcode == 3
    outcome, stopped = (tmp_path / "survivor.txt").read_text().split()
    died = float((tmp_path / "death.txt").read_text())
    # The lost connection is noticed at the next collective, not after the timeout.
    assert outcome == "RankFailure" and float(stopped) - died < SECONDS_BEFORE_TIMEOUT / 2
