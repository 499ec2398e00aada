"""One epoch of the Trainer's training: batches into chunks, one optimizer step per chunk."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from .batches import (
    Data,
    State,
    batch_chunks,
    call_objective,
    detach_state,
    epoch_batches,
    to_device,
)
from .distributed import agree_max
from .log import batch_count, progress_bar
from .optim import clip_gradients, regularization_penalty, set_lr
from .run import NonFiniteLossError, nonfinite_message

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .callbacks import CallbackList
    from .config import TrainConfig
    from .optim import Schedule
    from .run import InterruptGuard
    from .state import TrainerState

__all__ = ["EpochTraining"]


class EpochTraining:
    """The :class:`~lstmkit.train.loop.Trainer`'s steps inside one epoch.

    A mixin: the Trainer owns the model, optimizer, schedule, state and callbacks; this part
    draws the epoch's batches (replaying the order after a mid-epoch resume), cuts them into
    chunks (truncated BPTT), and runs forward, backward, clipping and the optimizer step of
    each, firing ``on_step_end`` and honouring budgets and stop requests after every step.
    The run around the epochs (fit, validation, checkpoints, stopping) is the Trainer's.
    """

    model: nn.Module
    objective: Callable[..., Any]
    config: TrainConfig
    optimizer: torch.optim.Optimizer
    params: list[torch.Tensor]
    device: torch.device
    schedule: Schedule
    state: TrainerState
    callbacks: CallbackList
    guard: InterruptGuard
    loader_generator: torch.Generator | None
    stop_request: str | None
    main_process: bool
    distributed: bool
    _agreed_seconds: float
    checkpoint: Any
    _snapshots: bool

    def train_epoch(self, data: Data, epoch: int) -> dict[str, float]:
        """Train one epoch (1-based ``epoch``) and return its train metrics."""
        cfg, progress = self.config, self.state.progress
        penalized = bool(cfg.l1 or cfg.l2)
        if progress.train_done:  # resumed while validating: training of this epoch is done
            assert progress.rng is not None
            progress.rng.restore()
            return progress.metrics(penalized)
        self.model.train()
        bar = progress_bar(None, epoch, cfg.epochs, cfg.progress and self.main_process)
        start = time.perf_counter() - progress.seconds
        self._agreed_seconds = progress.seconds  # the same on every rank (0, or resumed)
        try:
            for chunks, state in self._remaining_batches(data, epoch, bar):
                if not self._train_batch(chunks, state, epoch, start, bar):
                    break  # a budget ran out or a stop was requested: the epoch ends here
        finally:
            progress.seconds = time.perf_counter() - start
            bar.close()
        if self.distributed:  # the slowest rank's time, so that budgets end alike
            (progress.seconds,) = agree_max(progress.seconds)
        if progress.steps == 0:
            raise ValueError(f"train_data yielded no batches in epoch {epoch}")
        progress.train_done = True
        return progress.metrics(penalized)

    def train_step(self, batch: Any, state: State, epoch: int) -> tuple[float, float, float, State]:
        """Forward, backward and clip one batch (or chunk); the caller steps the optimizer.

        Returns:
            ``(loss, penalty, grad_norm, state)``: the objective's loss, the L1/L2 penalty
            added to it, the gradient norm before clipping, and the detached state to carry.

        Raises:
            NonFiniteLossError: on a NaN/Inf loss or gradient norm, before any update.
        """
        cfg = self.config
        loss, new_state = call_objective(self.objective, self.model, batch, state)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(self._nonfinite(f"the loss is {value}", epoch))
        if not loss.requires_grad:
            raise ValueError(
                "the objective's loss does not require grad; compute it from the model's "
                "output without .detach(), .item() or torch.no_grad()"
            )
        penalty = regularization_penalty(self.model, cfg.l1, cfg.l2)
        total = loss if penalty is None else loss + penalty
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        norm = clip_gradients(self.params, cfg.clip_norm)
        if not math.isfinite(norm):
            raise NonFiniteLossError(self._nonfinite(f"the gradient norm is {norm}", epoch))
        carry = detach_state(new_state) if cfg.stateful or cfg.tbptt else None
        return value, 0.0 if penalty is None else float(penalty.detach()), norm, carry

    def _train_batch(
        self, chunks: list[Any], state: State, epoch: int, start: float, bar: tqdm
    ) -> bool:
        """Train the chunks of one batch, one optimizer step each; False once the epoch
        must end after a step (a budget ran out, a stop was requested)."""
        cfg, progress = self.config, self.state.progress
        for chunk in chunks:
            if cfg.schedule_per == "step":
                set_lr(self.optimizer, self._step_lr(self._clock(start)))
            loss, penalty, norm, state = self.train_step(chunk, state, epoch)
            with self.guard.critical():  # a half-applied update must never be saved
                self.optimizer.step()
                progress.add_step(loss, penalty, norm, state, self._snapshots)
            if cfg.progress:
                bar.set_postfix(loss=f"{progress.loss_sum / progress.steps:.4g}", refresh=False)
            if self.callbacks.has("on_step_end"):
                lr = float(self.optimizer.param_groups[0]["lr"])
                info = progress.step_info(epoch, self.state.steps, loss, penalty, norm, lr)
                self.callbacks.fire("on_step_end", self, info)
            if self._agreed_stop(start):
                return False
        progress.finish_batch()
        bar.update(1)
        return True

    def _clock(self, start: float) -> float:
        """Seconds into the epoch for the per-step schedule; under DDP the value every rank
        agreed on after the last step (the slowest rank's), so their rates stay equal."""
        if self.distributed:
            return self._agreed_seconds
        return time.perf_counter() - start

    def _agreed_stop(self, start: float) -> bool:
        """Whether the epoch ends after this step: a budget ran out or a stop was asked
        for; under DDP on any rank, with the slowest rank's clock (one small all-reduce)."""
        seconds = time.perf_counter() - start
        asked = self.stop_request is not None
        if self.distributed:
            budget = self.state.spent_budget(self.config, seconds) is not None
            seconds, flag, interrupt = agree_max(
                seconds, float(asked or budget), float(self.guard.pending)
            )
            self._agreed_seconds = seconds
            if interrupt:  # Ctrl-C on any rank: every rank stops after this same step
                self.guard.clear()
                raise KeyboardInterrupt
            if flag and self.state.spent_budget(self.config, seconds) is None and not asked:
                self.request_stop("stopped on another rank")
            return bool(flag)
        return asked or self.state.spent_budget(self.config, seconds) is not None

    def _remaining_batches(
        self, data: Data, epoch: int, bar: tqdm
    ) -> Iterator[tuple[list[Any], State]]:
        """Yield ``(chunks, initial state)`` per batch still to train this epoch; after a
        mid-epoch resume, replay the epoch's data order and skip what was trained."""
        cfg, progress = self.config, self.state.progress
        resumed = progress.begin(self.loader_generator)
        batches = epoch_batches(data, epoch)
        bar.total = batch_count(batches)
        self.state.epoch_steps = bar.total if cfg.tbptt is None else None  # chunks unknown yet
        iterator = iter(batches)
        if resumed:
            pending = progress.skip_done(iterator, epoch, bar, self._chunks)
            if pending is not None:
                yield pending, progress.state
        for batch in iterator:
            yield self._chunks(batch), progress.state if cfg.stateful else None

    def _chunks(self, batch: Any) -> list[Any]:
        return batch_chunks(to_device(batch, self.device), self.objective, self.config)

    def _step_lr(self, epoch_seconds: float) -> float:
        """The per-step schedule's rate for the next step, ``epoch_seconds`` into the epoch."""
        progress = self.state.run_fraction(self.config, epoch_seconds)
        if progress is None:
            raise ValueError(
                "schedule_per='step' needs the length of the run: set max_steps or max_seconds, "
                "or pass train_data with a length (a list or DataLoader) and no tbptt"
            )
        return self.schedule.at(progress)

    def _nonfinite(self, what: str, epoch: int) -> str:
        return nonfinite_message(what, epoch, self.state.progress, self.checkpoint)
