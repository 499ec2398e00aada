"""What the loop does to batches and states: iterate, move to a device, split in time, detach."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from .config import TrainConfig

# A recurrent state: None, a tensor, or nested tuples/lists/dicts of them, e.g. (h, c).
State = Any
# Batches come from anything iterable again and again, or from a function of the epoch.
Data = Iterable[Any] | Callable[[int], Iterable[Any]]


@runtime_checkable
class Objective(Protocol):
    """How a task turns a batch into a loss; the loop knows nothing else about the model.

    ``objective(model, batch, state)`` returns the scalar loss, or ``(loss, new_state)``
    when the model carries a recurrent state. ``state`` is None at the start of each epoch
    (and of each batch unless ``TrainConfig.stateful``); the loop detaches ``new_state``
    before handing it back, so gradients never cross a chunk boundary (truncated BPTT).

    An objective may also define ``split(batch, k)`` returning the batch's consecutive
    chunks of ``k`` time steps; the loop uses it when ``TrainConfig.tbptt = k`` instead of
    the default :func:`split_time`.

    >>> def objective(model, batch, state):
    ...     x, y = batch
    ...     out, state = model(x, state)
    ...     return torch.nn.functional.mse_loss(out, y), state
    """

    def __call__(self, model: nn.Module, batch: Any, state: State) -> Any: ...


def epoch_batches(data: Data, epoch: int, name: str = "train_data") -> Iterable[Any]:
    """Return the batches of epoch ``epoch`` (counted from 1).

    Args:
        data: a re-iterable (list, DataLoader, ...) or a function ``epoch -> iterable``.
        epoch: the 1-based epoch number passed to a function.
        name: the argument's name, for error messages.

    Returns:
        An iterable of batches for this epoch.
    """
    if callable(data) and not isinstance(data, Iterable):
        data = data(epoch)
        if not isinstance(data, Iterable):
            raise TypeError(f"{name}(epoch) must return an iterable of batches, got {data!r}")
        return data
    if not isinstance(data, Iterable):
        raise TypeError(
            f"{name} must be an iterable of batches or a function epoch -> iterable, "
            f"got {type(data).__name__}"
        )
    # Not iter(data) is data: iterating a DataLoader draws a seed and may start workers.
    if isinstance(data, Iterator):
        # A generator would be empty from the second epoch on, silently.
        raise TypeError(
            f"{name} is a one-shot iterator ({type(data).__name__}); pass a list, a DataLoader, "
            "or a function epoch -> iterable that makes fresh batches each epoch"
        )
    return data


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor inside ``batch`` (nested tuples, lists, dicts) to ``device``."""
    if isinstance(batch, (torch.Tensor, PackedSequence)):
        return batch if _device_of(batch) == device else batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _device_of(x: torch.Tensor | PackedSequence) -> torch.device:
    return x.data.device if isinstance(x, PackedSequence) else x.device


def detach_state(state: State) -> State:
    """Detach every tensor in a (nested) state so the next backward stops here."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(v) for v in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(v) for v in state)
    return state


def split_time(batch: Any, k: int, time_dim: int = 1) -> list[Any]:
    """Cut a batch into consecutive chunks of ``k`` steps along ``time_dim``.

    Every tensor with more than ``time_dim`` dimensions is cut, and all of them must have the
    same length along it; smaller tensors (e.g. per-sequence lengths or labels) and
    non-tensors are repeated unchanged in every chunk. The last chunk may be shorter.

    Args:
        batch: a tensor or nested tuples/lists/dicts of tensors.
        k: chunk length in time steps.
        time_dim: the dimension to cut (1 for batch-first (B, T, ...) tensors).

    Returns:
        The list of chunks, each shaped like ``batch``.
    """
    lengths = {t.shape[time_dim] for t in _tensors(batch) if t.dim() > time_dim}
    if not lengths:
        raise ValueError(
            f"tbptt={k} needs tensors with a time dimension {time_dim}, but the batch has none; "
            "set TrainConfig.time_dim or give the objective a split(batch, k) method"
        )
    if len(lengths) > 1:
        raise ValueError(
            f"tbptt={k}: the batch's tensors have different lengths {sorted(lengths)} along "
            f"time_dim={time_dim}; give the objective a split(batch, k) method that knows how "
            "to cut them"
        )
    steps = lengths.pop()
    return [_slice(batch, start, min(start + k, steps), time_dim) for start in range(0, steps, k)]


def _tensors(batch: Any) -> Iterator[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, dict):
        for v in batch.values():
            yield from _tensors(v)
    elif isinstance(batch, (tuple, list)):
        for v in batch:
            yield from _tensors(v)


def _slice(batch: Any, start: int, stop: int, time_dim: int) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.narrow(time_dim, start, stop - start) if batch.dim() > time_dim else batch
    if isinstance(batch, dict):
        return {k: _slice(v, start, stop, time_dim) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_slice(v, start, stop, time_dim) for v in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_slice(v, start, stop, time_dim) for v in batch)
    return batch


def call_objective(
    objective: Callable[..., Any], model: nn.Module, batch: Any, state: State
) -> tuple[torch.Tensor, State]:
    """Call the objective and check what it returned: a scalar loss, or ``(loss, state)``."""
    out = objective(model, batch, state)
    loss, new_state = out if isinstance(out, tuple) and len(out) == 2 else (out, None)
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            "objective must return a scalar loss tensor or a tuple (loss, state), "
            f"got {type(out).__name__}"
        )
    if loss.numel() != 1:
        raise ValueError(
            f"objective returned a loss of shape {tuple(loss.shape)}; reduce it to a scalar, "
            "e.g. with .mean()"
        )
    return loss.reshape(()), new_state


def batch_chunks(batch: Any, objective: Callable[..., Any], config: TrainConfig) -> list[Any]:
    """The chunks the loop makes of one batch: ``[batch]``, or its ``tbptt``-step pieces."""
    if config.tbptt is None:
        return [batch]
    split = getattr(objective, "split", None)
    chunks = (
        list(split(batch, config.tbptt))
        if split is not None
        else split_time(batch, config.tbptt, config.time_dim)
    )
    if not chunks:
        raise ValueError("objective.split returned no chunks for a batch")
    return chunks


def evaluate_loss(
    model: nn.Module,
    objective: Callable[..., Any],
    data: Any,
    config: TrainConfig | None = None,
    epoch: int = 1,
) -> float:
    """Mean objective loss over ``data``, with the same chunking and state carry as training.

    Call it under ``torch.no_grad()`` (``Trainer.validate`` does).

    Args:
        model: the model, usually in eval mode.
        objective: the training objective.
        data: batches, as for training.
        config: supplies ``tbptt``, ``time_dim`` and ``stateful``; default TrainConfig().
        epoch: passed to ``data`` when it is a function of the epoch.

    Returns:
        The mean loss over all batches (chunks).
    """
    cfg = config or TrainConfig()
    device = next(model.parameters()).device
    total, count, state = 0.0, 0, None
    for batch in epoch_batches(data, epoch, "val_data"):
        state = state if cfg.stateful else None
        for chunk in batch_chunks(to_device(batch, device), objective, cfg):
            loss, state = call_objective(objective, model, chunk, state)
            total += float(loss.detach())
            count += 1
    if count == 0:
        raise ValueError("val_data yielded no batches")
    return total / count
