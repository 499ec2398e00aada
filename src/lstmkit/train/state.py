"""TrainerState: a run's bookkeeping (epochs, steps, time, history, best epoch), the rules
that end it, and how it is written into a checkpoint and read back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..seed import RngState
from .checkpoint import Checkpoint, CheckpointError
from .config import TrainConfig
from .optim import is_improvement
from .progress import EpochProgress
from .run import TrainResult


@dataclass
class TrainerState:
    """Everything a run has done so far, apart from the model, optimizer and schedule.

    The Trainer owns one and changes it only through these methods; callbacks read it
    (``trainer.state``). A checkpoint holds it whole (:meth:`to_flat`), and a resume builds a
    new one from the checkpoint (:meth:`from_checkpoint`) before anything is changed.

    Attributes:
        monitor: the metric that picks the best epoch.
        epoch: epochs completed.
        steps: optimizer steps in the completed epochs.
        seconds: training and validation time of the completed epochs.
        history: one record per completed epoch.
        best_epoch: 1-based epoch with the best ``monitor`` value, or None.
        best_metric: that value.
        best_weights: the model's state dict at the best epoch.
        stale: epochs since the best.
        progress: the epoch being trained (position, running sums, generator snapshots).
        epoch_steps: batches in an epoch, when the data has a length (the per-step schedule).

    >>> state = TrainerState(monitor="val_loss")
    >>> state.stop_reason(TrainConfig(epochs=3, patience=2), requested=None) is None
    True
    """

    monitor: str = "val_loss"
    epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    best_weights: dict[str, torch.Tensor] | None = None
    stale: int = 0
    progress: EpochProgress = field(default_factory=EpochProgress)
    epoch_steps: int | None = None
    # Read from a checkpoint, put into the generators once the model is loaded too.
    _resume_rng: RngState | None = field(default=None, init=False, repr=False)
    _resume_loader: torch.Tensor | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------------------ the rules

    def spent_budget(self, config: TrainConfig, epoch_seconds: float) -> str | None:
        """ "max_steps" or "max_seconds" if that budget is spent, ``epoch_seconds`` into the
        epoch being trained; else None."""
        if config.max_steps is not None and self.steps + self.progress.steps >= config.max_steps:
            return "max_steps"
        if config.max_seconds is not None and self.seconds + epoch_seconds >= config.max_seconds:
            return "max_seconds"
        return None

    def stop_reason(self, config: TrainConfig, requested: str | None) -> str | None:
        """The rule that ends the run now: a budget, ``requested`` (a callback's or
        :meth:`Trainer.request_stop`'s reason), "patience"; or None while it goes on or once
        it has simply trained every epoch."""
        spent = self.spent_budget(config, self.progress.seconds)
        if spent is not None:
            return spent
        if requested is not None:
            return requested
        if self.epoch >= config.epochs:
            return None
        if config.patience is not None and self.stale >= config.patience:
            return "patience"
        return None

    def run_fraction(self, config: TrainConfig, epoch_seconds: float) -> float | None:
        """Fraction of the run done, ``epoch_seconds`` into the epoch, as the per-step
        schedule measures it: whichever of steps and time ends the run first sets it. None
        when neither the run's steps nor a time budget is known."""
        totals = [] if config.max_steps is None else [config.max_steps]
        if self.epoch_steps:
            totals.append(config.epochs * self.epoch_steps)
        parts = [(self.steps + self.progress.steps) / min(totals)] if totals else []
        if config.max_seconds is not None:
            parts.append((self.seconds + epoch_seconds) / config.max_seconds)
        return max(parts) if parts else None

    def monitored(self, record: dict[str, Any]) -> float:
        """The monitored metric's value in an epoch's record; ValueError if it is missing."""
        if self.monitor not in record:
            raise ValueError(
                f"monitor {self.monitor!r} is not among this epoch's metrics {sorted(record)}; "
                "set TrainConfig.monitor to one of them"
            )
        return float(record[self.monitor])

    def finish_epoch(
        self, record: dict[str, Any], seconds: float, model: nn.Module, config: TrainConfig
    ) -> None:
        """Count the epoch just trained and validated: best epoch, history, steps, time.

        Args:
            record: the epoch's history row (``epoch``, metrics, ``lr``, ...).
            seconds: its training and validation time.
            model: the model, whose weights are kept if this epoch is the best.
            config: supplies ``mode`` and ``min_delta``.
        """
        value = self.monitored(record)
        if is_improvement(value, self.best_metric, config.mode, config.min_delta):
            self.best_epoch, self.best_metric, self.stale = int(record["epoch"]), value, 0
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.stale += 1
        self.history.append(record)
        self.epoch = int(record["epoch"])
        self.steps += self.progress.steps
        self.seconds += seconds
        self.progress = EpochProgress()

    def result(self, model: nn.Module, checkpoint: Path | None, reason: str | None) -> TrainResult:
        """What ``fit`` returns: the model, this state's history and best epoch, how it ended."""
        return TrainResult(
            model=model,
            history=self.history,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
            monitor=self.monitor,
            checkpoint=checkpoint,
            stopped_early=reason is not None,
            stop_reason=reason,
        )

    # --------------------------------------------------------------------- checkpoints

    def to_flat(
        self, loader_generator: torch.Generator | None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything needed to continue exactly: ``(tensors, meta)`` for a checkpoint.

        Between epochs that is the history, best epoch, the steps and seconds spent (the
        budgets and the per-step schedule go on from them), and the generators. Inside an
        epoch (Ctrl-C), also the position in the epoch, the running sums, the carried
        recurrent state, and the generators both at the epoch's start (to replay its data
        order) and after the last finished step (to continue from there).

        Args:
            loader_generator: the DataLoader's own generator, if the data has one.
        """
        progress = self.progress
        partial = progress.partial
        tensors: dict[str, torch.Tensor] = {}
        if self.best_weights is not None and (partial or self.best_epoch != self.epoch):
            tensors.update({f"best.{k}": v for k, v in self.best_weights.items()})
        rng, loader = self._generators_to_save(loader_generator)
        rng_tensors, rng_meta = rng.to_flat("rng")
        tensors.update(rng_tensors)
        if loader is not None:
            tensors["loader_rng"] = loader
        meta: dict[str, Any] = {
            "epoch": self.epoch,
            "spent": {"steps": self.steps, "seconds": self.seconds},
            "rng": rng_meta,
            "history": self.history,
            "best": {
                "epoch": self.best_epoch,
                "metric": self.best_metric,
                "monitor": self.monitor,
                "stale": self.stale,
            },
            "partial": None,
        }
        if partial:
            partial_tensors, meta["partial"] = progress.to_flat()
            tensors.update(partial_tensors)
        return tensors, meta

    def _generators_to_save(
        self, loader_generator: torch.Generator | None
    ) -> tuple[RngState, torch.Tensor | None]:
        """The global generators and the DataLoader's own generator a resume must start from."""
        progress = self.progress
        current_loader = loader_generator.get_state() if loader_generator else None
        # progress.rng is None only when save() is called by hand mid-epoch without
        # checkpoint_dir (no per-step snapshots): the state now is then the best there is.
        if progress.train_done:  # no data left to replay: the loader continues from here
            return progress.rng or RngState.capture(), current_loader
        if progress.partial:  # the loader is rewound to the epoch's start and it is replayed
            return progress.rng or RngState.capture(), progress.loader_rng
        if progress.epoch_rng is not None:  # stopped before the epoch's first step finished
            return progress.epoch_rng, progress.loader_rng
        return RngState.capture(), current_loader

    @classmethod
    def from_checkpoint(
        cls, checkpoint: Checkpoint, device: torch.device, monitor: str
    ) -> TrainerState:
        """Read the state :meth:`to_flat` wrote, touching nothing else (not the generators:
        :meth:`restore_generators` does that once every other part has been read too).

        Args:
            checkpoint: a verified checkpoint.
            device: where the best weights and a carried recurrent state go.
            monitor: the metric this run monitors.

        Raises:
            CheckpointError: the best epoch's weights are missing.
            KeyError, TypeError, ValueError, IndexError: a part is missing or malformed.
        """
        meta, tensors = checkpoint.meta, checkpoint.tensors
        rng = RngState.from_flat(tensors, meta["rng"], "rng")
        best, partial = meta["best"], meta["partial"]
        best_weights = checkpoint.group("best") or None
        if best_weights is None and best["epoch"] is not None:
            if partial is not None or best["epoch"] != checkpoint.epoch:
                raise CheckpointError(f"{checkpoint.path} lacks the best epoch's weights")
            best_weights = {k: v.clone() for k, v in checkpoint.group("model").items()}
        progress = EpochProgress()
        if partial is not None:
            progress = EpochProgress.from_flat(tensors, partial, rng, device)
        # Checkpoints written before the budgets existed lack "spent": their epochs' time.
        spent = meta.get("spent") or {
            "steps": 0,
            "seconds": sum(r.get("seconds", 0.0) for r in meta["history"]),
        }
        state = cls(
            monitor=monitor,
            epoch=int(meta["epoch"]),
            steps=int(spent["steps"]),
            seconds=float(spent["seconds"]),
            history=list(meta["history"]),
            best_epoch=best["epoch"],
            best_metric=None if best["metric"] is None else float(best["metric"]),
            best_weights=None
            if best_weights is None
            else {k: v.to(device) for k, v in best_weights.items()},
            stale=int(best["stale"]),
            progress=progress,
        )
        state._resume_rng = rng if partial is None else None  # mid-epoch: set on replay
        state._resume_loader = tensors.get("loader_rng")
        return state

    def restore_generators(self, loader_generator: torch.Generator | None) -> None:
        """After a resume: put the generators where the run between epochs left them.

        A mid-epoch checkpoint leaves them to the replay of its epoch instead
        (:meth:`EpochProgress.begin`), except the loader's once the epoch's data is spent.
        """
        if self._resume_rng is not None:
            self._resume_rng.restore()
        replayed = self.progress.resumed and not self.progress.train_done
        loader = self._resume_loader
        if loader is not None and loader_generator is not None and not replayed:
            loader_generator.set_state(loader)
        self._resume_rng = self._resume_loader = None
