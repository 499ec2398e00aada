"""What a Trainer saves in a checkpoint and how it is put back, checked before anything changes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from lstmkit._version import __version__

from ..seed import RngState
from .batches import batch_chunks, to_device
from .checkpoint import Checkpoint, CheckpointError, read_checkpoint
from .optim import Schedule
from .resume import optimizer_from_flat, optimizer_to_flat, state_from_flat, state_to_flat
from .run import Progress

if TYPE_CHECKING:
    from tqdm import tqdm

    from .loop import Trainer

_PROGRESS_FIELDS = (
    "batches",
    "chunks",
    "steps",
    "loss_sum",
    "penalty_sum",
    "norm_sum",
    "norm_max",
    "seconds",
    "train_done",
)


def trainer_state(trainer: Trainer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Collect everything needed to continue ``trainer`` exactly: ``(tensors, meta)``.

    Between epochs that is the weights, optimizer, schedule, history, best epoch, the steps
    and seconds spent (the budgets and the per-step schedule go on from them), and the
    generators. Inside an epoch (Ctrl-C), also the position in the epoch, the running sums,
    the carried recurrent state, and the generators both at the epoch's start (to replay its
    data order) and after the last finished step (to continue from there).
    """
    pos = trainer.progress
    partial = pos.steps > 0 or pos.train_done
    tensors = {f"model.{k}": v for k, v in trainer.model.state_dict().items()}
    if trainer.best_state is not None and (partial or trainer.best_epoch != trainer.epoch):
        tensors.update({f"best.{k}": v for k, v in trainer.best_state.items()})
    optim_tensors, optim_meta = optimizer_to_flat(trainer.optimizer)
    tensors.update(optim_tensors)
    rng, loader = _generators_to_save(trainer, partial)
    rng_tensors, rng_meta = rng.to_flat("rng")
    tensors.update(rng_tensors)
    if loader is not None:
        tensors["loader_rng"] = loader
    meta: dict[str, Any] = {
        "epoch": trainer.epoch,
        "model_config": trainer.model_config,
        "train_config": trainer.config.to_dict(),
        "optimizer": optim_meta,
        "schedule": trainer.schedule.state_dict(),
        "spent": {"steps": trainer.steps, "seconds": trainer.seconds},
        "rng": rng_meta,
        "history": trainer.history,
        "best": {
            "epoch": trainer.best_epoch,
            "metric": trainer.best_metric,
            "monitor": trainer.monitor,
            "stale": trainer.stale,
        },
        "partial": None,
        "versions": {"lstmkit": __version__, "torch": torch.__version__},
    }
    if partial:
        carry_tensors, carry_spec = state_to_flat(pos.state)
        epoch_tensors, epoch_meta = pos.epoch_rng.to_flat("epoch_rng")
        tensors.update(carry_tensors)
        tensors.update(epoch_tensors)
        meta["partial"] = {f: getattr(pos, f) for f in _PROGRESS_FIELDS}
        meta["partial"].update(carry=carry_spec, epoch_rng=epoch_meta)
    return tensors, meta


def _generators_to_save(trainer: Trainer, partial: bool) -> tuple[RngState, torch.Tensor | None]:
    """The global generators and the DataLoader's own generator a resume must start from."""
    pos = trainer.progress
    current_loader = trainer.loader_generator.get_state() if trainer.loader_generator else None
    # pos.rng is None only when save() is called by hand mid-epoch without checkpoint_dir
    # (no per-step snapshots): the generators' state now is then the best there is.
    if pos.train_done:  # no data left to replay: the loader continues from where it is
        return pos.rng or RngState.capture(), current_loader
    if partial:  # the loader is rewound to the epoch's start and the epoch replayed
        return pos.rng or RngState.capture(), pos.loader_rng
    if pos.epoch_rng is not None:  # stopped before the epoch's first step finished
        return pos.epoch_rng, pos.loader_rng
    return RngState.capture(), current_loader


def load_trainer_state(trainer: Trainer, path: str | os.PathLike[str]) -> None:
    """Restore a run saved by :func:`trainer_state` into ``trainer``.

    Every part is read and checked first; only then is the model, optimizer or anything
    else touched, so a bad checkpoint leaves the trainer exactly as it was.

    Raises:
        CheckpointError: if the checkpoint is corrupt, foreign, or from a different run.
    """
    checkpoint = read_checkpoint(path)
    checkpoint.check_resumable(trainer.config)
    checkpoint.check_model(trainer.model, trainer.model_config)
    try:
        parsed = _parse(trainer, checkpoint)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(f"{checkpoint.path} is incomplete or malformed: {exc!r}") from None
    # Everything checked: now apply.
    trainer.model.load_state_dict(checkpoint.group("model"))
    trainer.optimizer.load_state_dict(parsed["optimizer"])
    trainer.schedule = parsed["schedule"]
    names = ("history", "epoch", "steps", "seconds", "stale", "best_epoch", "best_metric")
    for name in (*names, "best_state"):
        setattr(trainer, name, parsed[name])
    trainer.progress = progress = parsed["progress"]
    partial = checkpoint.meta["partial"]
    if partial is None:
        parsed["rng"].restore()
    loader = checkpoint.tensors.get("loader_rng")
    replayed = partial is not None and not progress.train_done  # set during the replay
    if loader is not None and trainer.loader_generator is not None and not replayed:
        trainer.loader_generator.set_state(loader)


def _parse(trainer: Trainer, checkpoint: Checkpoint) -> dict[str, Any]:
    """Read every part of ``checkpoint`` into fresh objects, touching nothing of ``trainer``."""
    meta, tensors = checkpoint.meta, checkpoint.tensors
    schedule = Schedule(trainer.config)
    schedule.load_state_dict(meta["schedule"])
    rng = RngState.from_flat(tensors, meta["rng"], "rng")
    best, partial = meta["best"], meta["partial"]
    best_state = checkpoint.group("best") or None
    if best_state is None and best["epoch"] is not None:
        if partial is not None or best["epoch"] != checkpoint.epoch:
            raise CheckpointError(f"{checkpoint.path} lacks the best epoch's weights")
        best_state = {k: v.clone() for k, v in checkpoint.group("model").items()}
    progress = Progress()
    if partial is not None:
        for name in _PROGRESS_FIELDS:
            setattr(progress, name, type(getattr(progress, name))(partial[name]))
        progress.state = state_from_flat(tensors, partial["carry"], trainer.device)
        progress.rng = rng
        progress.epoch_rng = RngState.from_flat(tensors, partial["epoch_rng"], "epoch_rng")
        progress.loader_rng = tensors.get("loader_rng")
        progress.resumed = True
    device = trainer.device
    # Checkpoints written before the budgets existed lack "spent": their time is their epochs'.
    spent = meta.get("spent") or {
        "steps": 0,
        "seconds": sum(r.get("seconds", 0.0) for r in meta["history"]),
    }
    return {
        "optimizer": optimizer_from_flat(trainer.optimizer, tensors, meta["optimizer"]),
        "schedule": schedule,
        "rng": rng,
        "history": list(meta["history"]),
        "epoch": int(meta["epoch"]),
        "steps": int(spent["steps"]),
        "seconds": float(spent["seconds"]),
        "stale": int(best["stale"]),
        "best_epoch": best["epoch"],
        "best_metric": None if best["metric"] is None else float(best["metric"]),
        "best_state": None
        if best_state is None
        else {k: v.to(device) for k, v in best_state.items()},
        "progress": progress,
    }


def rewind_generators(trainer: Trainer) -> None:
    """Before replaying an interrupted epoch: generators back to the epoch's start."""
    pos = trainer.progress
    pos.epoch_rng.restore()
    if trainer.loader_generator is not None and pos.loader_rng is not None:
        trainer.loader_generator.set_state(pos.loader_rng)


def skip_done(trainer: Trainer, iterator: Iterator[Any], epoch: int, bar: tqdm) -> list[Any] | None:
    """Skip the batches (and chunks) an interrupted epoch had trained, then restore the
    generators as they were after its last step, so training goes on as if never stopped.

    Returns:
        The untrained chunks of a batch cut midway, or None if it stopped between batches.
    """
    pos = trainer.progress
    pos.resumed = False
    for _ in range(pos.batches):
        if next(iterator, _END) is _END:
            raise ValueError(
                f"train_data has fewer batches than the interrupted epoch {epoch} had trained "
                f"({pos.batches}); resume with the same data"
            )
        bar.update(1)
    pending = None
    if pos.chunks:
        batch = next(iterator, _END)
        if batch is _END:
            raise ValueError(f"train_data ended before the interrupted batch {pos.batches + 1}")
        pending = batch_chunks(to_device(batch, trainer.device), trainer.objective, trainer.config)
        pending = pending[pos.chunks :]
    pos.rng.restore()
    return pending


_END = object()
