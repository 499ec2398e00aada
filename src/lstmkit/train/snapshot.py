"""A whole run as one checkpoint: model, optimizer, schedule and TrainerState, and back."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lstmkit._version import __version__

from .checkpoint import Checkpoint, CheckpointError
from .config import TrainConfig
from .optim import Schedule
from .resume import optimizer_from_flat, optimizer_to_flat
from .state import TrainerState


def run_to_flat(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    state: TrainerState,
    *,
    config: TrainConfig,
    model_config: Mapping[str, Any] | None,
    loader_generator: torch.Generator | None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Everything a resume needs, as ``(tensors, meta)`` for :func:`write_checkpoint`.

    Tensors: ``model.*``, ``optim.*`` and the state's own (``best.*``, ``rng.*``, ...); meta:
    the model and train configs, optimizer hyperparameters, schedule, the state's JSON and
    the versions that wrote it.
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    optim_tensors, optim_meta = optimizer_to_flat(optimizer)
    state_tensors, state_meta = state.to_flat(loader_generator)
    tensors.update(optim_tensors)
    tensors.update(state_tensors)
    meta: dict[str, Any] = {
        "model_config": None if model_config is None else dict(model_config),
        "train_config": config.to_dict(),
        "optimizer": optim_meta,
        "schedule": schedule.state_dict(),
        **state_meta,
        "versions": {"lstmkit": __version__, "torch": torch.__version__},
    }
    return tensors, meta


def run_from_checkpoint(
    checkpoint: Checkpoint,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    config: TrainConfig,
    model_config: Mapping[str, Any] | None,
    monitor: str,
    device: torch.device,
) -> tuple[dict[str, Any], Schedule, TrainerState]:
    """Check ``checkpoint`` against this run and read it into fresh objects; changes nothing.

    Args:
        checkpoint: a verified checkpoint.
        model, optimizer: this run's, to check the saved weights and optimizer against.
        config: this run's TrainConfig; every field that shapes the trajectory must match.
        model_config: this run's model config, if known; must match the saved one.
        monitor: the metric this run monitors.
        device: where the best weights and a carried recurrent state go.

    Returns:
        ``(optimizer state dict, schedule, state)``: apply them, then load
        ``checkpoint.group("model")`` into the model.

    Raises:
        CheckpointError: if the checkpoint is incomplete, malformed or from another run.
    """
    checkpoint.check_resumable(config)
    checkpoint.check_model(model, model_config)
    meta = checkpoint.meta
    try:
        optimizer_state = optimizer_from_flat(optimizer, checkpoint.tensors, meta["optimizer"])
        schedule = Schedule(config)
        schedule.load_state_dict(meta["schedule"])
        state = TrainerState.from_checkpoint(checkpoint, device, monitor)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{checkpoint.path} is incomplete or malformed: {exc!r}") from None
    return optimizer_state, schedule, state


def resume_source(
    resume: bool | str | os.PathLike[str], checkpoint_dir: str | None
) -> str | os.PathLike[str]:
    """The checkpoint ``fit(..., resume=...)`` continues from: True means ``checkpoint_dir``."""
    if resume is True:
        if checkpoint_dir is None:
            raise ValueError("resume=True needs TrainConfig.checkpoint_dir (or pass resume=<path>)")
        return checkpoint_dir
    if isinstance(resume, (str, os.PathLike)):
        return resume
    raise TypeError(f"resume must be True, False or a checkpoint path, got {resume!r}")
