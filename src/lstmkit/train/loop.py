"""The training loop every task uses: a Trainer driven by the task's objective function."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from lstmkit.io import json_safe

from ..seed import RngState, seed_everything
from .batches import (
    Data,
    State,
    batch_chunks,
    call_objective,
    detach_state,
    epoch_batches,
    evaluate_loss,
    to_device,
)
from .checkpoint import write_checkpoint
from .config import TrainConfig
from .log import as_metrics, batch_count, progress_bar, report_epoch
from .optim import (
    Schedule,
    build_optimizer,
    clip_gradients,
    is_improvement,
    regularization_penalty,
    set_lr,
)
from .run import InterruptGuard, NonFiniteLossError, Progress, TrainingInterrupted, TrainResult
from .state import load_trainer_state, rewind_generators, skip_done, trainer_state

Evaluate = Callable[[nn.Module, Any], Mapping[str, float]]


class Trainer:
    """Trains any model with the task's objective; holds the optimizer, schedule and history.

    The steps are small methods (:meth:`train_epoch`, :meth:`train_step`, :meth:`validate`,
    :meth:`save`, :meth:`load`) so that a distributed variant can override just the parts
    that change (the sampler, all-reducing metrics, saving on one rank).

    Args:
        model: the module to train, already on its device; batches are moved there.
        objective: ``objective(model, batch, state) -> loss`` or ``(loss, state)``; see
            :class:`lstmkit.train.Objective`.
        config: the TrainConfig.
        evaluate: optional ``evaluate(model, val_data) -> {"metric": value}``, run under
            ``torch.no_grad()`` in eval mode; default: ``{"val_loss": mean objective loss}``.
        model_config: JSON-safe dict that rebuilds the model; saved in checkpoints and
            checked on resume.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Callable[..., Any],
        config: TrainConfig,
        *,
        evaluate: Evaluate | None = None,
        model_config: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"evaluate must be callable or None, got {type(evaluate).__name__}")
        self.model, self.objective, self.config, self.evaluate = model, objective, config, evaluate
        self.model_config = (
            None if model_config is None else json_safe(dict(model_config), "model_config")
        )
        self.optimizer = build_optimizer(model, config)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.device = self.params[0].device
        self.schedule = Schedule(config)
        self.history: list[dict[str, Any]] = []
        self.epoch = 0  # epochs completed
        self.steps = 0  # optimizer steps in the completed epochs
        self.seconds = 0.0  # training and validation time of the completed epochs
        self.epoch_steps: int | None = None  # batches in an epoch, when the data has a length
        self.best_epoch: int | None = None
        self.best_metric: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stale = 0  # epochs since the best
        self.monitor = config.monitor
        self.progress = Progress()
        self.checkpoint: Path | None = None
        self.loader_generator: torch.Generator | None = None
        self.guard = InterruptGuard()
        self.stop_requested = False

    def fit(
        self,
        train_data: Data,
        val_data: Any = None,
        *,
        resume: bool | str | os.PathLike[str] = False,
    ) -> TrainResult:
        """Train up to ``config.epochs`` epochs or a budget; see :func:`fit` for the arguments."""
        cfg = self.config
        validating = val_data is not None or self.evaluate is not None
        self.monitor = "train_loss" if not validating and cfg.monitor == "val_loss" else cfg.monitor
        generator = getattr(train_data, "generator", None)
        self.loader_generator = generator if isinstance(generator, torch.Generator) else None
        if resume:
            self.load(self._resume_path(resume))
        else:
            seed_everything(cfg.seed)
        try:
            with self.guard:
                while self.epoch < cfg.epochs and self._stop_reason() is None:
                    self._run_epoch(train_data, val_data, validating)
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt:
            raise self._interrupted() from None
        progress = self._progress(0.0) if cfg.schedule_per == "step" else None
        if progress is not None:  # leave the rate where the schedule ends: min_lr when done
            set_lr(self.optimizer, self.schedule.at(progress))
        if cfg.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        reason = self._stop_reason()
        return TrainResult(
            model=self.model,
            history=self.history,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
            monitor=self.monitor,
            checkpoint=self.checkpoint,
            stopped_early=reason is not None,
            stop_reason=reason,
        )

    def train_epoch(self, data: Data, epoch: int) -> dict[str, float]:
        """Train one epoch (1-based ``epoch``) and return its train metrics."""
        cfg, pos = self.config, self.progress
        if pos.train_done:  # resumed while validating: training of this epoch is done
            pos.rng.restore()
            return pos.metrics(bool(cfg.l1 or cfg.l2))
        self.model.train()
        bar = progress_bar(None, epoch, cfg.epochs, cfg.progress)
        # Snapshots make a Ctrl-C checkpoint resume exactly; without a checkpoint_dir nothing
        # would be saved, so skip their cost (~0.1 ms a step, mostly numpy's state copy).
        snapshots = cfg.checkpoint_dir is not None
        per_step = cfg.schedule_per == "step"
        start = time.perf_counter() - pos.seconds
        try:
            for chunks, state in self._remaining_batches(data, epoch, bar):
                for chunk in chunks:
                    if per_step:
                        set_lr(self.optimizer, self._step_lr(time.perf_counter() - start))
                    loss, penalty, norm, state = self.train_step(chunk, state, epoch)
                    with self.guard.critical():  # a half-applied update must never be saved
                        self.optimizer.step()
                        pos.add_step(loss, penalty, norm, state, snapshots)
                    if cfg.progress:
                        bar.set_postfix(loss=f"{pos.loss_sum / pos.steps:.4g}", refresh=False)
                    if self._spent_budget(time.perf_counter() - start):
                        break
                else:  # every chunk of the batch trained
                    pos.batches += 1
                    pos.chunks = 0
                    bar.update(1)
                    continue
                break  # a budget ran out after that step: the epoch ends here
        finally:
            pos.seconds = time.perf_counter() - start
            bar.close()
        if pos.steps == 0:
            raise ValueError(f"train_data yielded no batches in epoch {epoch}")
        pos.train_done = True
        return pos.metrics(bool(cfg.l1 or cfg.l2))

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
            raise NonFiniteLossError(self._nonfinite_message(f"the loss is {value}", epoch))
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
            raise NonFiniteLossError(self._nonfinite_message(f"the gradient norm is {norm}", epoch))
        carry = detach_state(new_state) if cfg.stateful or cfg.tbptt else None
        return value, 0.0 if penalty is None else float(penalty.detach()), norm, carry

    def validate(self, data: Any, epoch: int = 1) -> dict[str, float]:
        """Return validation metrics under ``torch.no_grad()`` with the model in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                if self.evaluate is not None:
                    raw = self.evaluate(self.model, data)
                else:
                    raw = {
                        "val_loss": evaluate_loss(
                            self.model, self.objective, data, self.config, epoch
                        )
                    }
        finally:
            self.model.train(was_training)
        return as_metrics(raw)

    def save(self, directory: str | os.PathLike[str] | None = None) -> Path:
        """Write a checkpoint of the whole run (resumable mid-epoch) and return its path."""
        folder = directory if directory is not None else self.config.checkpoint_dir
        if folder is None:
            raise ValueError("save() needs a directory: pass one or set TrainConfig.checkpoint_dir")
        tensors, meta = trainer_state(self)
        self.checkpoint = write_checkpoint(folder, tensors, meta)
        return self.checkpoint

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the run saved at ``path``; checks everything before changing anything."""
        load_trainer_state(self, path)
        self.checkpoint = (
            Path(path) if Path(path).suffix == ".json" else Path(path) / "checkpoint.json"
        )

    def request_stop(self) -> None:
        """End the run after the current epoch (validated, logged and checkpointed as the last).

        For stopping rules the loop does not know, called from ``evaluate`` (a task solved),
        from a data function, or anywhere. Budgets of time and steps need no call: see
        ``TrainConfig.max_seconds`` and ``max_steps``.
        """
        self.stop_requested = True

    # ----------------------------------------------------------------------------- internals

    def _run_epoch(self, train_data: Data, val_data: Any, validating: bool) -> None:
        cfg = self.config
        epoch = self.epoch + 1
        if cfg.schedule_per == "epoch":
            set_lr(self.optimizer, self.schedule.lr(self.epoch))
        train = self.train_epoch(train_data, epoch)
        lr = self.optimizer.param_groups[0]["lr"]  # per step: the rate of the epoch's last step
        start = time.perf_counter()
        metrics = self.validate(val_data, epoch) if validating else {}
        seconds = self.progress.seconds + time.perf_counter() - start
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train.pop("train_loss")}
        record.update(metrics, lr=lr, **train, seconds=seconds)
        if self.monitor not in record:
            raise ValueError(
                f"monitor {self.monitor!r} is not among this epoch's metrics {sorted(record)}; "
                "set TrainConfig.monitor to one of them"
            )
        with self.guard.critical():  # the epoch's bookkeeping lands whole or not at all
            value = float(record[self.monitor])
            if is_improvement(value, self.best_metric, cfg.mode, cfg.min_delta):
                self.best_epoch, self.best_metric, self.stale = epoch, value, 0
                self.best_state = {
                    k: v.detach().clone() for k, v in self.model.state_dict().items()
                }
            else:
                self.stale += 1
            self.schedule.observe(self.epoch, value)
            self.history.append(record)
            self.epoch = epoch
            self.steps += self.progress.steps
            self.seconds += seconds
            self.progress = Progress()
            reason = self._stop_reason()
            if reason is not None:
                record["stopped"] = reason
        self._report(record)

    def _report(self, record: dict[str, Any]) -> None:
        cfg = self.config
        last = self.epoch >= cfg.epochs or self._stop_reason() is not None
        due = cfg.checkpoint_dir is not None and (last or self.epoch % cfg.checkpoint_every == 0)
        if due:
            self.save()
        report_epoch(self.history, cfg, self.monitor, self.best_epoch, plot=last or due)

    def _remaining_batches(
        self, data: Data, epoch: int, bar: tqdm
    ) -> Iterator[tuple[list[Any], State]]:
        """Yield ``(chunks, initial state)`` per batch still to train this epoch.

        After a mid-epoch resume it replays the epoch's data order from the generators saved
        at the epoch's start, skips what was done, then restores the generators as they were
        after the last finished step, so the run continues as if never stopped.
        """
        cfg, pos = self.config, self.progress
        resumed = pos.resumed
        if resumed:
            rewind_generators(self)
        else:
            pos.epoch_rng = RngState.capture()
            pos.loader_rng = self.loader_generator.get_state() if self.loader_generator else None
        batches = epoch_batches(data, epoch)
        bar.total = batch_count(batches)
        self.epoch_steps = bar.total if cfg.tbptt is None else None  # chunks are unknown yet
        iterator = iter(batches)
        pending = skip_done(self, iterator, epoch, bar) if resumed else None
        if pending is not None:
            yield pending, pos.state
        for batch in iterator:
            chunks = batch_chunks(to_device(batch, self.device), self.objective, cfg)
            yield chunks, pos.state if cfg.stateful else None

    def _stop_reason(self) -> str | None:
        """The rule that ends the run now ("max_steps", "max_seconds", "request_stop",
        "patience"), or None while it goes on or once it has simply trained every epoch."""
        cfg = self.config
        spent = self._spent_budget(self.progress.seconds)
        if spent is not None:
            return spent
        if self.epoch >= cfg.epochs:
            return None
        if self.stop_requested:
            return "request_stop"
        if cfg.patience is not None and self.stale >= cfg.patience:
            return "patience"
        return None

    def _spent_budget(self, epoch_seconds: float) -> str | None:
        """ "max_steps" or "max_seconds" if that budget is spent, ``epoch_seconds`` into the
        epoch being trained; else None."""
        cfg = self.config
        if cfg.max_steps is not None and self.steps + self.progress.steps >= cfg.max_steps:
            return "max_steps"
        if cfg.max_seconds is not None and self.seconds + epoch_seconds >= cfg.max_seconds:
            return "max_seconds"
        return None

    def _progress(self, epoch_seconds: float) -> float | None:
        """Fraction of the run done, ``epoch_seconds`` into the epoch, as the per-step
        schedule measures it: whichever of steps and time ends the run first sets it. None
        when neither the run's steps nor a time budget is known."""
        cfg = self.config
        totals = [] if cfg.max_steps is None else [cfg.max_steps]
        if self.epoch_steps:
            totals.append(cfg.epochs * self.epoch_steps)
        parts = [(self.steps + self.progress.steps) / min(totals)] if totals else []
        if cfg.max_seconds is not None:
            parts.append((self.seconds + epoch_seconds) / cfg.max_seconds)
        return max(parts) if parts else None

    def _step_lr(self, epoch_seconds: float) -> float:
        """The per-step schedule's rate for the next step, ``epoch_seconds`` into the epoch."""
        progress = self._progress(epoch_seconds)
        if progress is None:
            raise ValueError(
                "schedule_per='step' needs the length of the run: set max_steps or max_seconds, "
                "or pass train_data with a length (a list or DataLoader) and no tbptt"
            )
        return self.schedule.at(progress)

    def _resume_path(self, resume: bool | str | os.PathLike[str]) -> str | os.PathLike[str]:
        if resume is True:
            if self.config.checkpoint_dir is None:
                raise ValueError(
                    "resume=True needs TrainConfig.checkpoint_dir (or pass resume=<path>)"
                )
            return self.config.checkpoint_dir
        if isinstance(resume, (str, os.PathLike)):
            return resume
        raise TypeError(f"resume must be True, False or a checkpoint path, got {resume!r}")

    def _nonfinite_message(self, what: str, epoch: int) -> str:
        pos = self.progress
        saved = f"the last good checkpoint is {self.checkpoint or 'none'}"
        return (
            f"{what} at epoch {epoch}, step {pos.steps + 1} (batch {pos.batches + 1}); training "
            f"stopped before applying it and {saved}. Lower lr, set clip_norm, or check the "
            "data for NaN/Inf"
        )

    def _interrupted(self) -> TrainingInterrupted:
        pos = self.progress
        where = f"epoch {self.epoch + 1}, step {pos.steps}"
        path = None
        if self.config.checkpoint_dir is not None:
            path = self.save()
            hint = f"checkpoint saved to {path}; resume with fit(..., resume=True) or --resume"
        else:
            hint = "nothing was saved (TrainConfig.checkpoint_dir is None)"
        return TrainingInterrupted(
            f"training interrupted at {where}; {hint}", path, self.epoch + 1, pos.steps
        )


def fit(
    model: nn.Module,
    objective: Callable[..., Any],
    train_data: Data,
    config: TrainConfig | None = None,
    *,
    val_data: Any = None,
    evaluate: Evaluate | None = None,
    model_config: Mapping[str, Any] | None = None,
    resume: bool | str | os.PathLike[str] = False,
) -> TrainResult:
    """Train ``model`` with the task's ``objective``: the one loop every lstmkit task uses.

    Args:
        model: the module to train, already on its device.
        objective: ``objective(model, batch, state) -> loss`` or ``(loss, state)``; see
            :class:`lstmkit.train.Objective`.
        train_data: a re-iterable of batches (list, DataLoader) or a function
            ``epoch -> iterable`` (epoch counted from 1) that makes fresh batches.
        config: the TrainConfig; default ``TrainConfig()``.
        val_data: validation batches (same forms), or None.
        evaluate: ``evaluate(model, val_data) -> {"metric": value}``; default
            ``{"val_loss": mean objective loss}``.
        model_config: JSON-safe dict describing the model; saved and checked on resume.
        resume: True continues from ``config.checkpoint_dir``; a path continues from that
            checkpoint; False starts fresh (seeding everything from ``config.seed``).

    Returns:
        A TrainResult with the model (best weights restored), history and checkpoint path.

    Raises:
        NonFiniteLossError: a NaN/Inf loss or gradient; nothing broken is saved.
        TrainingInterrupted: Ctrl-C; a checkpoint was saved when ``checkpoint_dir`` is set.
        CheckpointError: ``resume`` points at a corrupt or foreign checkpoint.

    >>> import torch
    >>> model = torch.nn.Linear(1, 1)
    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1)
    >>> mse = lambda m, batch, state: torch.nn.functional.mse_loss(m(batch[0]), batch[1])
    >>> result = fit(model, mse, [(x, 3 * x)], TrainConfig(epochs=200, lr=0.1, progress=False))
    >>> result.history[-1]["train_loss"] < 1e-3
    True
    """
    trainer = Trainer(
        model, objective, config or TrainConfig(), evaluate=evaluate, model_config=model_config
    )
    return trainer.fit(train_data, val_data, resume=resume)
