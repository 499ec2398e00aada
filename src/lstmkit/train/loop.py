"""The training loop every task uses: a Trainer driven by the task's objective function."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lstmkit.io import json_safe

from ..seed import seed_everything
from .batches import Data, evaluate_loss
from .callbacks import Callback, CallbackList
from .checkpoint import read_checkpoint, write_checkpoint
from .config import TrainConfig
from .distributed import (
    agree_max,
    agree_on_stop,
    agree_sum,
    average_metrics,
    ddp_objective,
    gather_state,
    init_distributed,
    is_main_process,
    rank_failure,
    shard_data,
    shard_state,
)
from .epoch import EpochTraining
from .examples import prepare_data
from .log import as_metrics, report_epoch
from .optim import Schedule, build_optimizer, set_lr
from .run import InterruptGuard, TrainingInterrupted, TrainResult
from .snapshot import resume_source, run_from_checkpoint, run_to_flat
from .state import TrainerState

Evaluate = Callable[[nn.Module, Any], Mapping[str, float]]


class Trainer(EpochTraining):
    """Trains any model with the task's objective; holds the optimizer, schedule and state.

    The steps are small methods: the run's here (:meth:`fit`, :meth:`validate`,
    :meth:`save`, :meth:`load`, :meth:`request_stop`), an epoch's in
    :class:`~lstmkit.train.epoch.EpochTraining` (:meth:`train_epoch`, :meth:`train_step`);
    the run's bookkeeping is :attr:`state` (a
    :class:`TrainerState`); code that watches or steers the run is a :class:`Callback`.

    Args:
        model: the module to train, already on its device; batches are moved there.
        objective: ``objective(model, batch, state) -> loss`` or ``(loss, state)``; see
            :class:`lstmkit.train.Objective`.
        config: the TrainConfig.
        evaluate: optional ``evaluate(model, val_data) -> {"metric": value}``, run under
            ``torch.no_grad()`` in eval mode; default: ``{"val_loss": mean objective loss}``.
        model_config: JSON-safe dict that rebuilds the model; saved in checkpoints and
            checked on resume.
        callbacks: objects with :class:`Callback`'s hooks, called in this order.
        main_process: whether this process writes (checkpoints, the log, progress output,
            ``main_process_only`` callbacks). None: True unless ``torch.distributed`` is
            initialised and this is not rank 0.

    >>> x = torch.linspace(-1, 1, 16).unsqueeze(1)
    >>> mse = lambda m, batch, state: torch.nn.functional.mse_loss(m(batch[0]), batch[1])
    >>> trainer = Trainer(torch.nn.Linear(1, 1), mse, TrainConfig(epochs=3, progress=False))
    >>> [row["epoch"] for row in trainer.fit([(x, 2 * x)]).history]
    [1, 2, 3]
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Callable[..., Any],
        config: TrainConfig,
        *,
        evaluate: Evaluate | None = None,
        model_config: Mapping[str, Any] | None = None,
        callbacks: Iterable[Callback] = (),
        main_process: bool | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(objective):
            raise TypeError(f"objective must be callable, got {type(objective).__name__}")
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"evaluate must be callable or None, got {type(evaluate).__name__}")
        if main_process is not None and not isinstance(main_process, bool):
            raise TypeError(f"main_process must be True, False or None, got {main_process!r}")
        self.model, self.objective, self.config, self.evaluate = model, objective, config, evaluate
        self.model_config = (
            None if model_config is None else json_safe(dict(model_config), "model_config")
        )
        self.main_process = is_main_process() if main_process is None else main_process
        # Under torchrun: join its process group; DDP's backward averages the gradients.
        self.distributed = init_distributed()
        if self.distributed:
            self.objective = ddp_objective(objective, model, config.time_dim)
        self.callbacks = CallbackList(callbacks, main_process=self.main_process)
        self.optimizer = build_optimizer(model, config)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.device = self.params[0].device
        self.schedule = Schedule(config)
        self.state = TrainerState(monitor=config.monitor)
        self.checkpoint: Path | None = None
        self.loader_generator: torch.Generator | None = None
        self.guard = InterruptGuard()
        self.guard.defer = self.distributed  # Ctrl-C: every rank stops at the same step
        self.stop_request: str | None = None
        # Snapshots make a Ctrl-C checkpoint resume exactly; where nothing would be saved,
        # skip their cost (~0.1 ms a step, mostly numpy's state copy).
        self._snapshots = config.checkpoint_dir is not None and self.main_process

    # The run's figures, read through the state that owns them.
    epoch = property(lambda self: self.state.epoch, doc="Epochs completed.")
    steps = property(lambda self: self.state.steps, doc="Optimizer steps of completed epochs.")
    seconds = property(lambda self: self.state.seconds, doc="Time of the completed epochs.")
    history = property(lambda self: self.state.history, doc="One record per completed epoch.")

    def fit(
        self,
        train_data: Data,
        val_data: Any = None,
        *,
        resume: bool | str | os.PathLike[str] = False,
    ) -> TrainResult:
        """Train up to ``config.epochs`` epochs or a budget; see :func:`fit` for the arguments."""
        cfg = self.config
        train_data, val_data = prepare_data(train_data, val_data, cfg, self.evaluate is None)
        train_data = shard_data(train_data, cfg.time_dim)  # each rank its share of a batch
        validating = val_data is not None or self.evaluate is not None
        monitor = "train_loss" if not validating and cfg.monitor == "val_loss" else cfg.monitor
        self.state.monitor = monitor
        generator = getattr(train_data, "generator", None)
        self.loader_generator = generator if isinstance(generator, torch.Generator) else None
        self.stop_request = None
        if resume:
            self.load(resume_source(resume, cfg.checkpoint_dir))
        else:
            seed_everything(cfg.seed)
        try:
            with self.guard:
                self.callbacks.fire("on_fit_start", self)
                while self.state.epoch < cfg.epochs and self._stop_reason() is None:
                    self._run_epoch(train_data, val_data, validating)
        except TrainingInterrupted:
            raise
        except KeyboardInterrupt:
            raise self._interrupted() from None
        except RuntimeError as err:  # under DDP: a collective that lost a rank
            failure = rank_failure(err) if self.distributed else None
            if failure is None:
                raise
            raise failure from err
        result = self._result()
        self.callbacks.fire("on_fit_end", self, result)
        return result

    def validate(self, data: Any, epoch: int = 1) -> dict[str, float]:
        """Return validation metrics under ``torch.no_grad()`` with the model in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                if self.evaluate is not None:
                    raw = self.evaluate(self.model, data)
                else:
                    loss = evaluate_loss(self.model, self.objective, data, self.config, epoch)
                    raw = {"val_loss": loss}
        finally:
            self.model.train(was_training)
        return as_metrics(raw)

    def save(self, directory: str | os.PathLike[str] | None = None) -> Path:
        """Write a checkpoint of the whole run (resumable mid-epoch) and return its path.

        The loop calls it only in the main process; called by hand it always writes.
        """
        folder = directory if directory is not None else self.config.checkpoint_dir
        if folder is None:
            raise ValueError("save() needs a directory: pass one or set TrainConfig.checkpoint_dir")
        tensors, meta = run_to_flat(
            self.model,
            self.optimizer,
            self.schedule,
            self.state,
            config=self.config,
            model_config=self.model_config,
            loader_generator=self.loader_generator,
        )
        self.checkpoint = write_checkpoint(folder, tensors, meta)
        self.callbacks.fire("on_checkpoint", self, self.checkpoint)
        return self.checkpoint

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the run saved at ``path``; checks everything before changing anything.

        Raises:
            CheckpointError: if the checkpoint is corrupt, foreign, or from a different run.
        """
        checkpoint = read_checkpoint(path)
        optimizer, schedule, state = run_from_checkpoint(
            checkpoint,
            self.model,
            self.optimizer,
            config=self.config,
            model_config=self.model_config,
            monitor=self.state.monitor,
            device=self.device,
        )
        # Everything checked: now apply.
        self.model.load_state_dict(checkpoint.group("model"))
        self.optimizer.load_state_dict(optimizer)
        self.schedule, self.state = schedule, state
        state.restore_generators(self.loader_generator)
        if self.distributed and state.progress.state is not None:
            state.progress.state = shard_state(state.progress.state)  # this rank's streams
        self.checkpoint = checkpoint.path

    def request_stop(self, reason: str = "request_stop") -> None:
        """End the run: after the optimizer step in progress when called during training
        (from a callback's ``on_step_end``, the objective or a data function), else after
        the current epoch (from ``evaluate`` or ``on_epoch_end``). That epoch is validated,
        recorded and checkpointed as the last; ``reason`` becomes ``stop_reason`` (the first
        request of a ``fit`` call wins; it waits in ``stop_request``). Budgets of time and
        steps need no call.

        Args:
            reason: a short name, e.g. "pruned" or "solved".
        """
        if not isinstance(reason, str) or not reason:
            raise TypeError(f"request_stop's reason must be a non-empty string, got {reason!r}")
        if self.stop_request is None:
            self.stop_request = reason

    # ----------------------------------------------------------------------------- internals

    def _run_epoch(self, train_data: Data, val_data: Any, validating: bool) -> None:
        cfg, state = self.config, self.state
        epoch = state.epoch + 1
        self.callbacks.fire("on_epoch_start", self, epoch)
        if cfg.schedule_per == "epoch":
            set_lr(self.optimizer, self.schedule.lr(state.epoch))
        train = self.train_epoch(train_data, epoch)
        lr = self.optimizer.param_groups[0]["lr"]  # per step: the rate of the epoch's last step
        start = time.perf_counter()
        metrics = self.validate(val_data, epoch) if validating else {}
        seconds = state.progress.seconds + time.perf_counter() - start
        if self.distributed:  # the slowest rank's time: every rank's budget alike
            (seconds,) = agree_max(seconds)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train.pop("train_loss")}
        record.update(metrics, lr=lr, **train, seconds=seconds)
        average_metrics(record)  # over the ranks, so that they all decide alike
        value = state.monitored(record)
        # The epoch's bookkeeping, the callbacks' verdicts and the stop decision land whole.
        with self.guard.critical():
            state.finish_epoch(record, seconds, self.model, cfg)
            self.schedule.observe(epoch - 1, value)
            self.callbacks.fire("on_epoch_end", self, record)
            if self.distributed:
                agree_on_stop(self)
            reason = self._stop_reason()
            if reason is not None:
                record["stopped"] = reason
        if self.main_process:
            last = state.epoch >= cfg.epochs or reason is not None
            if cfg.checkpoint_dir is not None and (last or state.epoch % cfg.checkpoint_every == 0):
                self.save()
            report_epoch(state.history, cfg)

    def _stop_reason(self) -> str | None:
        return self.state.stop_reason(self.config, self.stop_request)

    def _result(self) -> TrainResult:
        """Leave the rate where a per-step schedule ends, restore the best weights, report."""
        cfg, state = self.config, self.state
        progress = state.run_fraction(cfg, 0.0) if cfg.schedule_per == "step" else None
        if progress is not None:  # min_lr when done
            set_lr(self.optimizer, self.schedule.at(progress))
        if cfg.restore_best and state.best_weights is not None:
            self.model.load_state_dict(state.best_weights)
        return state.result(self.model, self.checkpoint, self._stop_reason())

    def _interrupted(self) -> TrainingInterrupted:
        progress = self.state.progress
        if self.distributed:  # rank 0 saves what every rank needs to go on
            if progress.state is not None:
                progress.state = gather_state(progress.state)  # every rank's streams
            # Each rank's running loss is over its own rows; their mean, resumed on every
            # rank, gives the epoch the same rank-averaged train_loss as an uninterrupted run.
            (total,) = agree_sum(progress.loss_sum)
            progress.loss_sum = total / torch.distributed.get_world_size()
        steps = self.state.progress.steps
        where = f"epoch {self.state.epoch + 1}, step {steps}"
        path = None
        if not self.main_process:
            hint = "nothing was saved by this process (main_process=False: the main one saves)"
        elif self.config.checkpoint_dir is not None:
            path = self.save()
            hint = f"checkpoint saved to {path}; resume with fit(..., resume=True) or --resume"
        else:
            hint = "nothing was saved (TrainConfig.checkpoint_dir is None)"
        return TrainingInterrupted(
            f"training interrupted at {where}; {hint}", path, self.state.epoch + 1, steps
        )
