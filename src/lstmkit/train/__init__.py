"""The training loop every lstmkit task uses: fit(model, objective, data, TrainConfig(...)).

A task supplies three things and the loop does the rest (optimizer, schedule, clipping,
penalties, early stopping, time and step budgets, checkpoints, logs, progress bar):

- ``objective(model, batch, state) -> loss`` or ``(loss, state)``;
- ``train_data``: a list or DataLoader of batches, or a function ``epoch -> batches``;
- optionally ``evaluate(model, val_data) -> {"metric": value}``.

Recurrent state, three ways:

- ordinary batches: ignore ``state`` (it is None) and return just the loss;
- ``TrainConfig(tbptt=k)``: the loop cuts each batch into k-step chunks along
  ``time_dim`` (or with ``objective.split(batch, k)``) and hands each chunk the detached
  state the previous chunk returned;
- ``TrainConfig(stateful=True)``: the data yields consecutive pieces of the same streams
  (a language model) and the state flows from batch to batch, detached, reset each epoch.

Ctrl-C raises :class:`TrainingInterrupted` after saving a checkpoint that
``fit(..., resume=True)`` continues bit for bit, even from the middle of an epoch.
"""

from .batches import Objective, detach_state, evaluate_loss, split_time
from .checkpoint import Checkpoint, CheckpointError, load_weights, read_checkpoint
from .config import TrainConfig
from .log import read_history, write_history
from .loop import Trainer, fit
from .optim import Schedule, build_optimizer, clip_gradients, regularization_penalty
from .run import NonFiniteLossError, TrainingInterrupted, TrainResult

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "NonFiniteLossError",
    "Objective",
    "Schedule",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "build_optimizer",
    "clip_gradients",
    "detach_state",
    "evaluate_loss",
    "fit",
    "load_weights",
    "read_checkpoint",
    "read_history",
    "regularization_penalty",
    "split_time",
    "write_history",
]
