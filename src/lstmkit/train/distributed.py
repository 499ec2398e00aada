"""What the loop knows of ``torch.distributed``: who writes, and data-parallel training (DDP).

Under ``torchrun`` every rank runs the same ``fit``. When a process group of two or more
ranks is initialised (:func:`init_distributed` does it from torchrun's environment: gloo on
the CPU, nccl on CUDA), the Trainer

- wraps the model in ``DistributedDataParallel`` for the objective's forward pass, so the
  backward pass averages the gradients over the ranks (:func:`ddp_objective`);
- gives each rank its own share of every batch (:func:`shard_batch`: rank r takes the r-th
  of ``world`` near-equal slices along the batch dimension; for a stateful language model
  the batch's columns are its streams, so each rank carries the state of its own columns).
  Every rank takes one step per batch, so the work per rank is equal to a row. When the
  batch does not divide by ``world`` the slices differ by one row; each rank's loss is
  then weighted by ``world * rows / batch rows`` (:func:`ddp_objective`), so the averaged
  gradient is still the gradient of the batch's mean loss, and N ranks train the weights
  of one process exactly when the objective's loss is a mean over the batch's rows (most
  are; a mean over tokens of rows of unequal length is weighted by rows, approximately).
  A batch class of a task's own says how it is cut: a method ``shard(rank, world)``
  returning the rank's share, and ``loss_weight()`` the amount its loss is a mean over
  (a tagger's tokens, a recommender's real steps), which then weighs the rank's loss in
  place of its rows: N ranks then train the one-process weights exactly for such a mean.
  Other batches that are not tensors or tuples/lists/dicts of them are not cut: every rank
  then computes the whole batch (same weights, no speed-up). At each epoch's start every
  rank takes rank 0's torch generator state (:func:`share_random_state`), so an epoch's
  order drawn from it is the same on every rank even after dropout drew unequal amounts;
- averages the epoch's metrics over the ranks before early stopping reads them
  (:func:`average_metrics`), and agrees after every step on the run's clock and on a stop
  (:func:`agree_max`: the slowest rank's time), so a time budget, a per-step schedule
  driven by time and a callback's stop request end or steer every rank at the same step;
- writes only on rank 0 (:func:`is_main_process`).

A rank that dies (killed, or its process ends on an error) closes its connections: the
others' next collective fails at once and they stop with :class:`RankFailure` naming what
happened, and torchrun stops the survivors when one rank fails. A rank that hangs without
dying is caught by the process group's ``timeout`` (:data:`DEFAULT_TIMEOUT_S`,
``LSTMKIT_DIST_TIMEOUT`` seconds) instead.
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
    "agree_max",
    "agree_on_stop",
    "average_metrics",
    "ddp_objective",
    "from_main_process",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "shard_batch",
    "shard_data",
    "share_random_state",
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

    A batch with a ``shard(rank, world)`` method (a task's own batch class) cuts itself.

    >>> shard_batch((torch.arange(4), "x"), 1, 2)
    (tensor([2, 3]), 'x')
    """
    own = None if isinstance(batch, torch.Tensor) else getattr(batch, "shard", None)
    if callable(own):
        return own(rank, world)
    if isinstance(batch, torch.Tensor):
        dim = 1 if time_dim == 0 and batch.dim() >= 2 else 0
        if batch.dim() == 0 or batch.shape[dim] < world:
            raise ValueError(
                f"a batch of {batch.shape[dim] if batch.dim() else 0} cannot be shared by "
                f"{world} processes: use a batch size of at least {world}"
            )
        return torch.tensor_split(batch, world, dim=dim)[rank]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(shard_batch(b, rank, world, time_dim) for b in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_batch(b, rank, world, time_dim) for b in batch)
    if isinstance(batch, dict):
        return {k: shard_batch(v, rank, world, time_dim) for k, v in batch.items()}
    return batch


def share_random_state() -> None:
    """Give every rank rank 0's torch CPU generator state (a collective; alone: nothing).

    Ranks start from one seed, but dropout draws as much as a rank's share is large, so
    their generators part; an epoch's order drawn from them must not, or the ranks' shares
    would come from different orders and overlap.
    """
    if not is_distributed():
        return
    state = [torch.get_rng_state()]
    torch.distributed.broadcast_object_list(state, src=0)
    torch.set_rng_state(state[0])


def from_main_process(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's ``tensor`` on every rank (a broadcast; alone: ``tensor`` itself).

    For a draw that every rank must share, such as a sampled softmax's negatives: each
    rank draws (so that its generator moves as rank 0's does) and all keep rank 0's draw.
    """
    if not is_distributed():
        return tensor
    nccl = torch.distributed.get_backend() == "nccl"
    shared = tensor.to("cuda" if nccl else tensor.device, copy=True)
    torch.distributed.broadcast(shared, src=0)
    return shared.to(tensor.device)


class Shares:
    """An epoch's shares of this rank, as long as the data said its epoch is (``len()``
    raises TypeError where it says nothing), so a per-step schedule and the progress bar
    count the steps as one process does, even where the data's length is an estimate."""

    def __init__(self, shares: list[Any], length: int | None) -> None:
        self.shares, self.length = shares, length

    def __iter__(self) -> Any:
        return iter(self.shares)

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("the data of this epoch has no length")
        return self.length


class ShardedData:
    """Epoch data whose every batch is cut to this rank's share (``epoch -> Shares``)."""

    def __init__(self, data: Any, rank: int, world: int, time_dim: int) -> None:
        self.data, self.rank, self.world, self.time_dim = data, rank, world, time_dim
        self.generator = getattr(data, "generator", None)  # the loop saves it for resume

    def __call__(self, epoch: int) -> Shares:
        from .batches import epoch_batches
        from .log import batch_count

        share_random_state()  # the epoch's order: one draw, the same on every rank
        batches = epoch_batches(self.data, epoch)
        length = batch_count(batches)
        shares = [shard_batch(b, self.rank, self.world, self.time_dim) for b in batches]
        return Shares(shares, length)


def shard_data(data: Any, time_dim: int = 1) -> Any:
    """``data`` as this rank trains it: unchanged without a group of two or more ranks."""
    if not is_distributed():
        return data
    dist = torch.distributed
    return ShardedData(data, dist.get_rank(), dist.get_world_size(), time_dim)


def batch_rows(batch: Any, time_dim: int = 1) -> float:
    """The rows of a batch as :func:`shard_batch` cuts them: its first tensor's batch size
    (1 when it holds no tensor, which is not cut), or its own ``loss_weight()``."""
    weight = None if isinstance(batch, torch.Tensor) else getattr(batch, "loss_weight", None)
    if callable(weight):
        return float(weight())
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 0:
            return 1
        return batch.shape[1 if time_dim == 0 and batch.dim() >= 2 else 0]
    parts = batch.values() if isinstance(batch, dict) else batch
    if isinstance(batch, (tuple, list, dict)):
        for part in parts:
            if isinstance(part, (torch.Tensor, tuple, list, dict)):
                return batch_rows(part, time_dim)
    return 1


def ddp_objective(
    objective: Callable[..., Any], model: torch.nn.Module, time_dim: int = 1
) -> Callable[..., Any]:
    """The objective, called with the DDP-wrapped model so backward averages the gradients.

    The Trainer keeps the plain module (its optimizer, checkpoints and ``state_dict`` names
    stay those of one process); DDP shares its parameters and broadcasts rank 0's at start.
    While training, a rank whose share of the batch has ``rows`` of the batch's ``total``
    scales its loss by ``world * rows / total`` (1 when the batch divides evenly), so that
    DDP's average of the ranks' gradients is the gradient of the whole batch's mean loss;
    a batch's own ``loss_weight()`` counts in place of its rows (0: a share that trains
    nothing, whose loss must still reach every parameter, as DDP expects).
    """
    from torch.nn.parallel import DistributedDataParallel

    try:
        ddp = DistributedDataParallel(model)  # broadcasts rank 0's weights: a collective
    except RuntimeError as err:
        failure = rank_failure(err)
        if failure is None:
            raise
        raise failure from err

    world = torch.distributed.get_world_size()

    def distributed(model_: torch.nn.Module, batch: Any, state: Any) -> Any:
        out = objective(ddp if model_ is model else model_, batch, state)
        if not torch.is_grad_enabled():  # validation: every rank sees all of it
            return out
        rows = batch_rows(batch, time_dim)
        (total,) = agree_sum(float(rows))
        scale = world * rows / total if total else 0.0
        if scale == 1.0:
            return out
        if isinstance(out, tuple):
            return (out[0] * scale, *out[1:])
        return out * scale

    for name in ("split",):  # the objective's own time split, if it has one
        if hasattr(objective, name):
            setattr(distributed, name, getattr(objective, name))
    return distributed


def _state_dim(tensor: torch.Tensor) -> int:
    # torch's recurrent states are (layers, batch, hidden); a 1-2-D state is (batch, ...).
    return 1 if tensor.dim() >= 3 else 0


def gather_state(state: Any) -> Any:
    """The carried recurrent state of every rank's streams, joined in rank order: the state
    one process would carry for the whole batch (what a checkpoint saves). A collective."""
    parts: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, _to_cpu(state))

    def join(*leaves: Any) -> Any:
        first = leaves[0]
        if isinstance(first, torch.Tensor):
            return torch.cat(leaves, dim=_state_dim(first))
        if isinstance(first, (tuple, list)):
            return type(first)(join(*group) for group in zip(*leaves))
        if isinstance(first, dict):
            return {k: join(*(leaf[k] for leaf in leaves)) for k in first}
        return first

    device = _first_device(state)
    return _to_device(join(*parts), device)


def shard_state(state: Any) -> Any:
    """This rank's streams of a whole batch's carried state (:func:`gather_state`'s inverse)."""
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    if isinstance(state, torch.Tensor):
        return torch.tensor_split(state, world, dim=_state_dim(state))[rank].clone()
    if isinstance(state, (tuple, list)):
        return type(state)(shard_state(s) for s in state)
    if isinstance(state, dict):
        return {k: shard_state(v) for k, v in state.items()}
    return state


def _first_device(state: Any) -> torch.device | None:
    if isinstance(state, torch.Tensor):
        return state.device
    if not isinstance(state, (tuple, list, dict)):
        return None
    for part in state.values() if isinstance(state, dict) else state:
        if isinstance(part, (torch.Tensor, tuple, list, dict)):
            return _first_device(part)
    return None


def _to_cpu(state: Any) -> Any:
    return _to_device(state, torch.device("cpu"))


def _to_device(state: Any, device: torch.device | None) -> Any:
    if isinstance(state, torch.Tensor):
        return state if device is None else state.to(device)
    if isinstance(state, (tuple, list)):
        return type(state)(_to_device(s, device) for s in state)
    if isinstance(state, dict):
        return {k: _to_device(v, device) for k, v in state.items()}
    return state


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


def _reduce(values: tuple[float, ...], op: Any) -> list[float]:
    if not is_distributed():
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(tensor, op=op)
    return tensor.tolist()


def agree_max(*values: float) -> list[float]:
    """Each value's largest over the ranks, the same on every rank (unchanged alone)."""
    return _reduce(values, torch.distributed.ReduceOp.MAX)


def agree_sum(*values: float) -> list[float]:
    """Each value's sum over the ranks, the same on every rank (unchanged alone)."""
    return _reduce(values, torch.distributed.ReduceOp.SUM)


def agree_on_stop(trainer: Any) -> None:
    """Stop every rank when one wants to (its pruner, its clock), or DDP would wait forever."""
    wants = trainer._stop_reason() is not None
    flag = torch.tensor([float(wants)])
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    if flag.item() and not wants:
        trainer.request_stop("stopped on another rank")
