"""The training loop every lstmkit task uses: fit(model, objective, data, TrainConfig(...))."""

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
