"""TrainConfig: every knob of the training loop, validated once, saved beside each checkpoint."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "exponential", "cosine", "plateau")
SCHEDULE_UNITS = ("epoch", "step")
STEP_SCHEDULES = ("none", "cosine")  # the schedules defined over a fraction of the run
MODES = ("min", "max")

# Fields that shape the trajectory of the weights: resuming with a different value would not
# continue the same run, so a checkpoint refuses them (see checkpoint.check_resumable).
TRAJECTORY_FIELDS = (
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "l1",
    "l2",
    "schedule",
    "schedule_per",
    "step_size",
    "gamma",
    "min_lr",
    "plateau_patience",
    "warmup_epochs",
    "clip_norm",
    "tbptt",
    "time_dim",
    "stateful",
    "seed",
)


@dataclass
class TrainConfig:
    """Settings of one training run; the loop reads nothing else.

    Epochs are counted from 1 in histories, logs and messages. By default the learning rate
    is set once per epoch: a linear warm-up over ``warmup_epochs`` (lr * e / (warmup_epochs + 1)
    in epoch e), then the chosen ``schedule`` counted from the end of the warm-up. With
    ``schedule_per="step"`` it is set before every optimizer step instead, from the progress
    ``p`` of the run: the larger of steps done / total steps and elapsed seconds /
    ``max_seconds``, so a run cut by its time budget still ends at ``min_lr``.

    A run ends after ``epochs`` epochs, or earlier by ``patience``, by
    :meth:`Trainer.request_stop`, or when a budget (``max_steps``, ``max_seconds``) runs out:
    then right after the optimizer step that spent it, and that partial epoch is validated,
    logged, checkpointed and compared with the best like any other. The result's
    ``stop_reason`` and the last history row's ``stopped`` say which rule ended it.

    Args:
        epochs: total number of epochs (a resumed run continues up to this number). Default 20.
        batch_size: None (the default): ``train_data`` and ``val_data`` are batches already
            (a list, a DataLoader, a function of the epoch). An int: they are examples (a
            map-style Dataset, a tensor, or a tuple of tensors ``(x, y)`` with one row per
            example) and the loop batches them, ``train_data`` reshuffled every epoch from a
            generator seeded by ``seed`` and saved in checkpoints, ``val_data`` in order (for
            the default validation loss; a task's ``evaluate`` gets ``val_data`` as given).
            Setting it with data that is already batched raises, never ignores it. Default None.
        optimizer: "sgd" (with ``momentum``), "adam" or "adamw". Default "adam".
        lr: base learning rate. Default 1e-3.
        momentum: SGD momentum; ignored by Adam/AdamW. Default 0.9.
        weight_decay: the optimizer's own weight decay (decoupled for AdamW). Default 0.0.
        l1: coefficient of the L1 penalty ``l1 * sum|w|`` over weight matrices (parameters
            with 2 or more dimensions; biases are not penalised). Default 0.0.
        l2: coefficient of the L2 penalty ``l2 * sum w**2`` over the same weights. Default 0.0.
        schedule: "none", "step" (times ``gamma`` every ``step_size`` epochs), "exponential"
            (times ``gamma`` each epoch), "cosine" (from lr down to ``min_lr`` over the epochs
            after warm-up) or "plateau" (times ``gamma`` when the monitored metric has not
            improved for more than ``plateau_patience`` epochs). Default "none".
        schedule_per: "epoch" or "step": when the rate changes. With "step" only "none" and
            "cosine" apply: with ``w = warmup_epochs / epochs`` the warm-up share of the run,
            the rate is ``lr * p / w`` while ``p < w`` (from 0, as in transformers'
            ``get_cosine_schedule_with_warmup``), then "cosine" gives ``min_lr + (lr - min_lr)
            * (1 + cos(pi * (p - w) / (1 - w))) / 2`` and "none" ``lr``. The total steps are
            ``max_steps``, else ``epochs`` times the batches of an epoch (data with a length,
            no ``tbptt``); with neither known, ``max_seconds`` alone measures the run.
            Default "epoch".
        step_size: epochs between decays of the "step" schedule. Default 10.
        gamma: decay factor of "step", "exponential" and "plateau". Default 0.1.
        min_lr: floor of every schedule and end point of "cosine". Default 0.0.
        plateau_patience: epochs without improvement tolerated by "plateau". Default 2.
        warmup_epochs: epochs of linear warm-up before the schedule; combines with any
            schedule. Default 0.
        clip_norm: clip gradients to this global L2 norm; None disables clipping. The norm
            before clipping is logged as ``grad_norm`` either way. Default 1.0.
        patience: stop after this many epochs without improvement of ``monitor``; None
            trains all epochs. Default None.
        monitor: metric that selects the best epoch ("val_loss", or any key returned by the
            task's ``evaluate``). With no validation data, "val_loss" falls back to
            "train_loss". Default "val_loss".
        mode: "min" if lower ``monitor`` is better, "max" if higher is. Default "min".
        min_delta: smallest change of ``monitor`` that counts as an improvement. Default 0.0.
        restore_best: put the best epoch's weights back into the model at the end. Default True.
        max_steps: stop after this many optimizer steps in all (across epochs and resumes);
            None: no step budget. Default None.
        max_seconds: stop once training and validation have taken this many seconds in all
            (across resumes: a checkpoint keeps the time spent, so a resumed run gets only
            the remainder); at least one step runs. None: no time budget. Default None.
        tbptt: truncated BPTT: split every batch along time into chunks of this many steps,
            one optimizer step per chunk, carrying the detached state. None: no split.
        time_dim: the time dimension the default split cuts along (1 for batch-first
            tensors of shape (B, T, ...), 0 for (T, B, ...)). Default 1.
        stateful: carry the recurrent state returned by the objective from one batch to the
            next within an epoch (a stream cut into consecutive chunks, as for a language
            model). The state is detached between batches and reset at each epoch. Default
            False.
        seed: seeds python, numpy and torch at the start of a fresh run. Default 0.
        checkpoint_dir: directory for checkpoints; None saves none. Default None.
        checkpoint_every: save every this many epochs (and always at the end). Default 1.
        progress: show a tqdm progress bar. Default True.
        log_path: per-epoch metrics file, ".csv" or ".jsonl"; None writes none. Default None.
            (Learning-curve pictures: ``fit(..., callbacks=[LearningCurves(path)])`` from
            ``lstmkit.plots``.)
    """

    epochs: int = 20
    batch_size: int | None = None
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    schedule: str = "none"
    schedule_per: str = "epoch"
    step_size: int = 10
    gamma: float = 0.1
    min_lr: float = 0.0
    plateau_patience: int = 2
    warmup_epochs: int = 0
    clip_norm: float | None = 1.0
    patience: int | None = None
    monitor: str = "val_loss"
    mode: str = "min"
    min_delta: float = 0.0
    restore_best: bool = True
    max_steps: int | None = None
    max_seconds: float | None = None
    tbptt: int | None = None
    time_dim: int = 1
    stateful: bool = False
    seed: int = 0
    checkpoint_dir: str | None = None
    checkpoint_every: int = 1
    progress: bool = True
    log_path: str | None = None

    def __post_init__(self) -> None:
        _check_int(self, "epochs", low=1)
        _check_int(self, "batch_size", low=1, optional=True)
        _check_int(self, "step_size", low=1)
        _check_int(self, "plateau_patience", low=0)
        _check_int(self, "warmup_epochs", low=0)
        _check_int(self, "time_dim", low=0)
        _check_int(self, "seed", low=0)
        _check_int(self, "checkpoint_every", low=1)
        _check_int(self, "patience", low=1, optional=True)
        _check_int(self, "tbptt", low=1, optional=True)
        _check_int(self, "max_steps", low=1, optional=True)
        _check_float(self, "lr", positive=True)
        _check_float(self, "clip_norm", positive=True, optional=True)
        _check_float(self, "max_seconds", positive=True, optional=True)
        for name in ("momentum", "weight_decay", "l1", "l2", "min_lr", "min_delta"):
            _check_float(self, name)
        _check_float(self, "gamma", positive=True)
        _check_choice(self, "optimizer", OPTIMIZERS)
        _check_choice(self, "schedule", SCHEDULES)
        _check_choice(self, "schedule_per", SCHEDULE_UNITS)
        if self.schedule_per == "step" and self.schedule not in STEP_SCHEDULES:
            raise ValueError(
                f"schedule_per='step' works with schedule 'none' or 'cosine', got "
                f"{self.schedule!r}; use schedule_per='epoch' for {self.schedule!r}"
            )
        _check_choice(self, "mode", MODES)
        for name in ("restore_best", "stateful", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.monitor, str) or not self.monitor:
            raise TypeError(
                f"monitor must be a metric name such as 'val_loss', got {self.monitor!r}"
            )
        for name in ("checkpoint_dir", "log_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                # Accept pathlib.Path but store str so the config stays JSON-safe.
                if hasattr(value, "__fspath__"):
                    setattr(self, name, str(value))
                else:
                    raise TypeError(f"{name} must be a path string or None, got {value!r}")
        if self.log_path is not None and not self.log_path.endswith((".csv", ".jsonl")):
            raise ValueError(f"log_path must end in .csv or .jsonl, got {self.log_path!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-safe dict (what checkpoints store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from :meth:`to_dict` output.

        Args:
            data: field name to value.

        Returns:
            The validated config.

        Raises:
            ValueError: if ``data`` holds names that are not TrainConfig fields.
        """
        if not isinstance(data, dict):
            raise TypeError(f"TrainConfig.from_dict expects a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known fields: {sorted(known)}")
        return cls(**data)

    def with_updates(self, **changes: Any) -> TrainConfig:
        """Return a copy with some fields changed (and validated again)."""
        return dataclasses.replace(self, **changes)


def _check_int(cfg: TrainConfig, name: str, *, low: int, optional: bool = False) -> None:
    value = getattr(cfg, name)
    if value is None and optional:
        return
    # bool is an int subclass; True epochs is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, int):
        hint = " or None" if optional else ""
        raise TypeError(f"{name} must be an int{hint}, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _check_float(
    cfg: TrainConfig, name: str, *, positive: bool = False, optional: bool = False
) -> None:
    value = getattr(cfg, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    if not positive and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    setattr(cfg, name, float(value))


def _check_choice(cfg: TrainConfig, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
