"""The training loop every lstmkit task uses: fit(model, objective, data, TrainConfig(...)).

A task supplies three things and the loop does the rest (optimizer, schedule, clipping,
penalties, early stopping, time and step budgets, checkpoints, logs, progress bar):

- ``objective(model, batch, state) -> loss`` or ``(loss, state)``;
- ``train_data``: a list or DataLoader of batches, or a function ``epoch -> batches``; or,
  with ``TrainConfig(batch_size=n)``, examples (a Dataset, a tensor, a tuple ``(x, y)``)
  that the loop batches and reshuffles each epoch;
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

Callbacks
---------
``fit(..., callbacks=[...])`` takes objects with some of these hooks (subclass
:class:`Callback` for no-op defaults); the loop calls them in list order, the
:class:`Trainer` first:

- ``on_fit_start(trainer)``: once, after a resume has loaded its checkpoint;
- ``on_epoch_start(trainer, epoch)``: before the epoch's batches are drawn (also when a
  resumed run re-enters an interrupted epoch);
- ``on_step_end(trainer, step)``: after each optimizer step, ``step`` a :class:`StepInfo`
  (epoch, step, global_step, batch, loss, penalty, grad_norm, lr);
- ``on_epoch_end(trainer, record)``: after the epoch was trained, validated and counted
  (``record`` is its history row: train and validation metrics, lr, seconds; the best
  epoch in ``trainer.state`` is updated), before its checkpoint and log line;
- ``on_checkpoint(trainer, path)``: after each checkpoint the trainer writes;
- ``on_fit_end(trainer, result)``: when ``fit`` returns normally.

Any hook may call ``trainer.request_stop(reason)``: from ``on_step_end`` the epoch ends
after that step, elsewhere after the current epoch; that epoch is validated, recorded and
checkpointed as the last, and ``reason`` becomes ``TrainResult.stop_reason`` and the last
row's ``stopped``. Hooks draw from a private copy of the random generators, so callbacks
never change the trained weights and a resumed run stays exact. A NaN loss still raises
:class:`NonFiniteLossError` and Ctrl-C :class:`TrainingInterrupted`; ``on_fit_end`` does
not run then. ``lstmkit.plots.LearningCurves(path)`` is the learning-curve callback.

Hyperparameter pruning (Optuna) reports the validation metric each epoch and stops the
trial when its pruner says so; the trial's ``optuna.TrialPruned`` is raised by the search
code after ``fit`` returns, so the checkpoint and history of the pruned run stay whole::

    class OptunaPruning(Callback):
        def __init__(self, trial, monitor="val_loss"):
            self.trial, self.monitor = trial, monitor

        def on_epoch_end(self, trainer, record):
            self.trial.report(record[self.monitor], step=record["epoch"])
            if self.trial.should_prune():
                trainer.request_stop("pruned")

    result = fit(model, objective, data, config, callbacks=[OptunaPruning(trial)])
    if result.stop_reason == "pruned":
        raise optuna.TrialPruned()

Distributed training (DDP under ``torchrun``): every rank runs the same ``fit`` on the
DDP-wrapped model with a ``DistributedSampler``; only the main process writes. ``fit``'s
``main_process`` (default: rank 0 of an initialised process group) decides where
checkpoints, the metrics log, progress output and the callbacks marked
``main_process_only = True`` (every callback that writes or prints) happen; all ranks read
a checkpoint on resume. The sampler's epoch and a stop agreed by all ranks are callbacks
(a stop only one rank takes leaves the others waiting in an all-reduce: request stops at
epoch ends, and prefer ``max_steps`` to ``max_seconds``, whose clocks differ by rank)::

    class DistributedEpochs(Callback):
        def __init__(self, sampler):
            self.sampler = sampler

        def on_epoch_start(self, trainer, epoch):
            self.sampler.set_epoch(epoch)

        def on_epoch_end(self, trainer, record):
            # One rank's stop (its pruner, its clock) must stop them all, or DDP hangs.
            flag = torch.tensor(float(trainer.stop_request is not None))
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            if flag.item():
                trainer.request_stop(trainer.stop_request or "stopped on another rank")
"""

from .api import fit
from .batches import Objective, detach_state, evaluate_loss, split_time
from .callbacks import Callback, StepInfo
from .checkpoint import Checkpoint, CheckpointError, load_weights, read_checkpoint
from .config import TrainConfig
from .log import read_history, write_history
from .loop import Trainer
from .optim import Schedule, build_optimizer, clip_gradients, regularization_penalty
from .run import NonFiniteLossError, TrainingInterrupted, TrainResult
from .state import TrainerState

__all__ = [
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "NonFiniteLossError",
    "Objective",
    "Schedule",
    "StepInfo",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainerState",
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
