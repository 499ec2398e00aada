"""What the loop knows of ``torch.distributed``: who writes, and data-parallel training (DDP).

Under ``torchrun`` every rank runs the same ``fit``. When a process group of two or more
ranks is initialised (:func:`init_distributed` does it from torchrun's environment: gloo on
the CPU, nccl on CUDA), the Trainer

- wraps the model in ``DistributedDataParallel`` for the objective's forward pass, so the
  backward pass averages the gradients over the ranks (:func:`ddp_objective`);
- gives each rank its own share of every batch (:func:`shard_batch`: rank r takes the r-th
  of ``world`` near-equal slices along the batch dimension; for a stateful language model
  the batch's columns are its streams, so each rank carries the state of its own columns).
  With batch sizes divisible by ``world`` the averaged gradient is the one-process gradient
  of the global batch, so N ranks train the same weights as one;
- averages the epoch's metrics over the ranks before early stopping reads them
  (:func:`average_metrics`), so every rank takes the same decisions;
- writes only on rank 0 (:func:`is_main_process`).

A rank that dies leaves the others in a collective; the process group's ``timeout``
(:data:`DEFAULT_TIMEOUT_S`, ``LSTMKIT_DIST_TIMEOUT`` seconds) turns that into an error
instead of a hang, and torchrun stops the survivors when one rank fails.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "RankFailure",
    "agree_on_stop",
    "average_metrics",
    "ddp_objective",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "shard_batch",
    "shard_data",
]

DEFAULT_TIMEOUT_S = 120.0


class RankFailure(RuntimeError):
    """Another rank died or stopped answering: this one stops too, saying so."""


def rank_failure(err: BaseException) -> RankFailure | None:
    """A :class:`RankFailure` for ``err`` when it is a collective that lost a rank, else None."""
    lost = isinstance(err, getattr(torch.distributed, "DistError", ())) or any(
        word in str(err) for word in ("Connection closed", "timed out", "Timed out", "peer")
    )
    if not lost:
        return None
    return RankFailure(
        "another process of this distributed run died or stopped answering, so this rank "
        f"stops too (see the other ranks' errors; {type(err).__name__}: {str(err)[:200]})"
    )


def is_main_process() -> bool:
    """True for rank 0 of an initialised process group, and for any process without one.

    Under DDP (``torchrun``) every rank trains the same weights; only the main process writes
    checkpoints, the metrics log, progress output and ``main_process_only`` callbacks, so
    the files are written once and never raced for.

    >>> is_main_process()  # no process group here
    True
    """
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def is_distributed() -> bool:
    """True when a process group of two or more ranks is initialised."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return False
    try:
        return dist.get_world_size() > 1
    except (RuntimeError, ValueError):  # a group that is only said to exist (a test's stand-in)
        return False


def init_distributed(timeout_s: float | None = None) -> bool:
    """Join torchrun's process group if this process was started by torchrun.

    Args:
        timeout_s: seconds a collective waits for a missing rank before failing; default
            ``LSTMKIT_DIST_TIMEOUT`` or :data:`DEFAULT_TIMEOUT_S`.

    Returns:
        Whether a group of two or more ranks is now initialised.
    """
    dist = torch.distributed
    if dist.is_initialized() or "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return is_distributed()
    seconds = timeout_s or float(os.environ.get("LSTMKIT_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(seconds=seconds))
    return is_distributed()


def shard_batch(batch: Any, rank: int, world: int, time_dim: int = 1) -> Any:
    """This rank's share of a batch: the ``rank``-th of ``world`` slices of each tensor.

    Tensors are cut along the batch dimension (0, or 1 for a time-first 2-D+ tensor when
    ``time_dim`` is 0); tuples, lists and dicts are cut element by element, anything else
    (a state, a flag) is passed whole.

    >>> shard_batch((torch.arange(4), "x"), 1, 2)
    (tensor([2, 3]), 'x')
    """
    if isinstance(batch, torch.Tensor):
        dim = 1 if time_dim == 0 and batch.dim() >= 2 else 0
        if batch.dim() == 0 or batch.shape[dim] < world:
            raise ValueError(
                f"a batch of {batch.shape[dim] if batch.dim() else 0} cannot be shared by "
                f"{world} processes: use a batch size of at least {world}"
            )
        return torch.tensor_split(batch, world, dim=dim)[rank]
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_batch(b, rank, world, time_dim) for b in batch)
    if isinstance(batch, dict):
        return {k: shard_batch(v, rank, world, time_dim) for k, v in batch.items()}
    return batch


class ShardedData:
    """Epoch data whose every batch is cut to this rank's share (``epoch -> list``)."""

    def __init__(self, data: Any, rank: int, world: int, time_dim: int) -> None:
        self.data, self.rank, self.world, self.time_dim = data, rank, world, time_dim
        self.generator = getattr(data, "generator", None)  # the loop saves it for resume

    def __call__(self, epoch: int) -> list[Any]:
        from .batches import epoch_batches

        batches = epoch_batches(self.data, epoch)
        return [shard_batch(b, self.rank, self.world, self.time_dim) for b in batches]


def shard_data(data: Any, time_dim: int = 1) -> Any:
    """``data`` as this rank trains it: unchanged without a group of two or more ranks."""
    if not is_distributed():
        return data
    dist = torch.distributed
    return ShardedData(data, dist.get_rank(), dist.get_world_size(), time_dim)


def ddp_objective(objective: Callable[..., Any], model: torch.nn.Module) -> Callable[..., Any]:
    """The objective, called with the DDP-wrapped model so backward averages the gradients.

    The Trainer keeps the plain module (its optimizer, checkpoints and ``state_dict`` names
    stay those of one process); DDP shares its parameters and broadcasts rank 0's at start.
    """
    from torch.nn.parallel import DistributedDataParallel

    try:
        ddp = DistributedDataParallel(model)  # broadcasts rank 0's weights: a collective
    except RuntimeError as err:
        failure = rank_failure(err)
        if failure is None:
            raise
        raise failure from err

    def distributed(model_: torch.nn.Module, batch: Any, state: Any) -> Any:
        return objective(ddp if model_ is model else model_, batch, state)

    for name in ("split",):  # the objective's own time split, if it has one
        if hasattr(objective, name):
            setattr(distributed, name, getattr(objective, name))
    return distributed


def average_metrics(record: dict[str, Any]) -> None:
    """Replace the record's train metrics with their mean over the ranks, in place.

    Validation metrics are left alone: every rank validates the same data.
    """
    names = [k for k, v in record.items() if k.startswith("train_") and isinstance(v, float)]
    if not names or not is_distributed():
        return
    values = torch.tensor([record[k] for k in names], dtype=torch.float64)
    torch.distributed.all_reduce(values)
    values /= torch.distributed.get_world_size()
    record.update(zip(names, values.tolist()))


def agree_on_stop(trainer: Any) -> None:
    """Stop every rank when one wants to (its pruner, its clock), or DDP would wait forever."""
    wants = trainer._stop_reason() is not None
    flag = torch.tensor([float(wants)])
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    if flag.item() and not wants:
        trainer.request_stop("stopped on another rank")
