"""Session-parallel mini-batches (Hidasi et al. 2016): B slots, each carrying one session at a time.

Sessions are laid side by side in ``batch_size`` slots. A slot reads its session one event
per step, predicting the next event; when the session ends, the next session in line
takes the slot over and only that slot's recurrent state is reset (``starts`` marks the
step). The steps are served in chunks of ``steps`` so that a model carrying its state from
chunk to chunk back-propagates through up to that many steps of each session.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["SessionChunk", "SessionParallelBatches", "SessionShare", "session_layout"]


class SessionChunk(NamedTuple):
    """One chunk of session-parallel steps; every tensor has shape (B, T).

    inputs: the item at each step (0 where the slot is idle);
    targets: the item after it, to predict (0 where idle);
    starts: True where a new session begins in the slot (reset its state before the step);
    mask: True where the step is a real (input, target) pair.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    starts: torch.Tensor
    mask: torch.Tensor

    def shard(self, rank: int, world: int) -> SessionShare:
        """Rank ``rank``'s slots of ``world`` (the ``rank``-th of near-equal blocks) for
        data-parallel training: each rank carries its own slots' sessions and states, and
        together they cover the chunk."""
        slots = self.inputs.shape[0]
        if slots < world:
            raise ValueError(
                f"{slots} session slots cannot be shared by {world} processes: use a batch "
                f"size of at least {world}"
            )
        rows = torch.tensor_split(torch.arange(slots), world)[rank]
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        parts = (t[lo:hi] for t in self)
        return SessionShare(*parts, self.targets[self.mask], int(self.mask[:lo].sum()))

    def loss_weight(self) -> float:
        """What a next-item loss is a mean over: the chunk's real steps."""
        return float(self.mask.sum())


class SessionShare(NamedTuple):
    """A data-parallel rank's slots of a `SessionChunk` (its fields, (B_r, T) each), with
    the whole chunk's real targets (``targets[mask]`` of all slots) in ``batch_targets``
    and, in ``offset``, where this share's come among them: for losses whose candidates
    are the batch's targets, so that a share meets those of the whole chunk."""

    inputs: torch.Tensor
    targets: torch.Tensor
    starts: torch.Tensor
    mask: torch.Tensor
    batch_targets: torch.Tensor
    offset: int

    def loss_weight(self) -> float:
        """What a next-item loss is a mean over: this share's real steps."""
        return float(self.mask.sum())


def session_layout(lengths: Sequence[int], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each session runs: (slot, first step) when slots take sessions in order.

    Each session of n events occupies n - 1 steps (its (input, next) pairs). A session goes
    to the slot that frees first (the lowest slot on ties), as Hidasi et al.'s loop does.

    Returns:
        ``(slot, start)``, both (N,) int64.
    """
    slots = [(0, s) for s in range(min(batch_size, len(lengths)))]
    slot = np.empty(len(lengths), dtype=np.int64)
    start = np.empty(len(lengths), dtype=np.int64)
    for k, n in enumerate(lengths):
        free_at, s = heapq.heappop(slots)
        slot[k], start[k] = s, free_at
        heapq.heappush(slots, (free_at + n - 1, s))
    return slot, start


class SessionParallelBatches:
    """Sessions of item ids served as session-parallel chunks (`SessionChunk`).

    Every (item, next item) pair of every session appears exactly once per pass. Slots
    left without a session at the end of a pass idle (``mask`` False) until the last
    session ends. With ``shuffle`` the sessions enter the slots in a new random order each
    pass, drawn from torch's global RNG (which the training loop seeds and checkpoints) or
    from a private generator seeded with ``seed``.

    Args:
        sessions: item-id sequences (ids >= 1; 0 is reserved for idle slots), each of at
            least 2 events.
        batch_size: slots B.
        steps: steps per chunk T (the last chunk may be shorter).
        shuffle: new session order each pass; False keeps the given order.
        seed: seed of a private shuffling generator; None uses torch's global RNG.

    >>> batches = SessionParallelBatches([[1, 2, 3], [4, 5], [6, 7, 8, 9]], batch_size=2, steps=2,
    ...                                  shuffle=False)
    >>> chunk = next(iter(batches))
    >>> chunk.inputs.tolist(), chunk.starts.tolist()
    ([[1, 2], [4, 6]], [[True, False], [True, True]])
    """

    def __init__(
        self,
        sessions: Sequence[Sequence[int] | np.ndarray],
        batch_size: int = 128,
        steps: int = 1,
        *,
        shuffle: bool = True,
        seed: int | None = None,
    ):
        for name, value in (("batch_size", batch_size), ("steps", steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if len(sessions) == 0:
            raise ValueError("no sessions to batch")
        self.sessions = [np.asarray(s, dtype=np.int64) for s in sessions]
        for k, s in enumerate(self.sessions):
            if s.ndim != 1 or len(s) < 2:
                raise ValueError(f"session {k} has {s.size} events; each needs at least 2")
            if s.min() < 1:
                raise ValueError(f"session {k} holds item id {int(s.min())}; ids start at 1")
        self.batch_size, self.steps, self.shuffle = batch_size, steps, shuffle
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.pairs = sum(len(s) - 1 for s in self.sessions)

    def order(self) -> list[int]:
        """The order in which sessions enter the slots this pass."""
        if not self.shuffle:
            return list(range(len(self.sessions)))
        return torch.randperm(len(self.sessions), generator=self.generator).tolist()

    def grid(self, order: Sequence[int]) -> tuple[np.ndarray, ...]:
        """The whole pass as (B, S) arrays: inputs, targets, starts, mask (S total steps)."""
        lengths = [len(self.sessions[k]) for k in order]
        slot, start = session_layout(lengths, self.batch_size)
        total = int(max(b + n - 1 for b, n in zip(start, lengths)))
        inputs = np.zeros((self.batch_size, total), dtype=np.int64)
        targets = np.zeros_like(inputs)
        starts = np.zeros((self.batch_size, total), dtype=bool)
        pairs = np.array(lengths) - 1
        rows = np.repeat(slot, pairs)
        cols = np.repeat(start, pairs) + _ranges(pairs)
        seqs = [self.sessions[k] for k in order]
        inputs[rows, cols] = np.concatenate([s[:-1] for s in seqs])
        targets[rows, cols] = np.concatenate([s[1:] for s in seqs])
        starts[slot, start] = True
        return inputs, targets, starts, targets > 0

    def __len__(self) -> int:
        """Chunks in a pass (for the given order; the same for any order only roughly)."""
        _, start = session_layout([len(s) for s in self.sessions], self.batch_size)
        total = int(max(b + len(s) - 1 for b, s in zip(start, self.sessions)))
        return -(-total // self.steps)

    def __iter__(self) -> Iterator[SessionChunk]:
        arrays = [torch.from_numpy(a) for a in self.grid(self.order())]
        for begin in range(0, arrays[0].shape[1], self.steps):
            yield SessionChunk(*(a[:, begin : begin + self.steps] for a in arrays))


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated: the step offsets inside each session."""
    ends = np.cumsum(counts)
    return np.arange(ends[-1]) - np.repeat(ends - counts, counts)
