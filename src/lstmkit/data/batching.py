"""Batches for sequence tasks: a token stream in batch columns, and padded, length-bucketed sets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

__all__ = ["SequenceBatches", "StreamBatches", "bucket_batches", "pad_sequences"]


class StreamBatches:
    """A long token stream cut into `batch_size` columns and read in chunks of `bptt` steps.

    The stream of N tokens is split into `batch_size` contiguous columns of L = (N-1) // B
    inputs each; column j reads tokens [j*L, (j+1)*L) and predicts the token after each one.
    Chunk k holds steps [k*bptt, (k+1)*bptt) of every column, so a stateful model that
    carries its (detached) state from chunk k to chunk k+1 continues exactly where each
    column left off: truncated BPTT. Every target position 1..B*L appears exactly once per
    pass; fewer than B tokens at the end are dropped.

    Args:
        ids: 1-D tensor (or sequence) of token ids.
        batch_size: number of columns B.
        bptt: chunk length in steps; the last chunk may be shorter.

    Yields:
        `(x, y)` pairs of shape (B, T) with `y[:, t]` the token after `x[:, t]`.

    Example:
        >>> batches = StreamBatches(torch.arange(11), batch_size=2, bptt=3)
        >>> [tuple(x.shape) for x, _ in batches]
        [(2, 3), (2, 2)]
    """

    def __init__(self, ids: torch.Tensor | Sequence[int], batch_size: int, bptt: int):
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() != 1:
            raise ValueError(f"ids must be 1-D, got shape {tuple(ids.shape)}")
        for name, value in (("batch_size", batch_size), ("bptt", bptt)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        steps = (ids.numel() - 1) // batch_size
        if steps < 1:
            raise ValueError(
                f"the stream has {ids.numel()} tokens, too few for {batch_size} batch columns; "
                "use more text or a smaller batch_size"
            )
        used = ids[: batch_size * steps + 1]
        # Inputs and targets as (B, L) views; targets are the inputs shifted by one token.
        self.inputs = used[:-1].view(batch_size, steps)
        self.targets = used[1:].view(batch_size, steps)
        self.batch_size = batch_size
        self.bptt = bptt
        self.steps = steps

    def __len__(self) -> int:
        return -(-self.steps // self.bptt)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.steps, self.bptt):
            stop = start + self.bptt
            yield self.inputs[:, start:stop], self.targets[:, start:stop]

    @property
    def num_tokens(self) -> int:
        """Number of predicted tokens per pass (B * L)."""
        return self.batch_size * self.steps

    def chunk(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunk ``k`` counted over repeated passes: chunk ``len(self)`` is chunk 0 again.

        A run measured in chunks rather than passes (a budget, a validation every N
        chunks) reads chunks k0..k1 without caring where a pass ends.
        """
        start = (k % len(self)) * self.bptt
        steps = slice(start, min(start + self.bptt, self.steps))
        return self.inputs[:, steps], self.targets[:, steps]

    def chunks(self, start: int, stop: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Chunks ``start, ..., stop - 1`` (wrapping around passes, see `chunk`)."""
        for k in range(start, stop):
            yield self.chunk(k)


def pad_sequences(
    seqs: Sequence[torch.Tensor], padding_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length sequences into one zero-padded, batch-first tensor.

    Args:
        seqs: tensors of shape (T_i,) or (T_i, F), all with the same trailing shape.
        padding_value: value written past each sequence's end.

    Returns:
        `(padded, lengths)`: padded of shape (B, max T_i[, F]) and lengths (B,) int64.
    """
    if len(seqs) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    if int(lengths.min()) == 0:
        bad = int((lengths == 0).nonzero()[0])
        raise ValueError(f"sequence {bad} has no steps; every sequence needs at least one")
    trailing = seqs[0].shape[1:]
    out = seqs[0].new_full((len(seqs), int(lengths.max()), *trailing), padding_value)
    for i, s in enumerate(seqs):
        if s.shape[1:] != trailing:
            raise ValueError(
                f"sequence {i} has step shape {tuple(s.shape[1:])}, sequence 0 has "
                f"{tuple(trailing)}; all sequences need the same number of features"
            )
        out[i, : len(s)] = s
    return out, lengths


def bucket_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Group indices into batches of similar length, to waste little work on padding.

    Sequences are sorted by length (with random tie-breaking when shuffling) and cut into
    consecutive batches; the batch order is then shuffled, so each epoch sees different
    neighbours and a different order while every batch stays compact.

    Args:
        lengths: length of each sequence.
        batch_size: sequences per batch (the last batch may be smaller).
        shuffle: randomise tie-breaking and batch order (False gives a fixed order).
        generator: torch RNG for the shuffling (seeded by the caller for reproducibility).

    Returns:
        A list of batches, each a list of indices; every index appears exactly once.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(lengths)
    lens = torch.as_tensor(list(lengths), dtype=torch.float64)
    if shuffle:
        # A random fraction below 1 breaks ties between equal lengths without reordering
        # sequences of different lengths.
        lens = lens + torch.rand(n, generator=generator, dtype=torch.float64)
    order = torch.argsort(lens, stable=True).tolist()
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if shuffle:
        perm = torch.randperm(len(batches), generator=generator).tolist()
        batches = [batches[i] for i in perm]
    return batches


class SequenceBatches:
    """Labelled variable-length sequences served as padded, length-bucketed batches.

    Each pass yields `(x, lengths, y)` with x of shape (B, T[, F]) padded with zeros,
    lengths (B,) and labels y (B,). With `shuffle=True` every pass draws a new bucketing,
    from torch's global RNG by default (so the training loop's seeding and checkpointed RNG
    state make runs reproducible and resumable) or from a private generator seeded with `seed`.

    Args:
        seqs: one tensor per sequence, shape (T_i,) for token ids or (T_i, F) for features.
        labels: one class index per sequence.
        batch_size: sequences per batch.
        shuffle: new bucketing and order each pass (training) or a fixed order (evaluation).
        seed: seed of a private shuffling generator; None uses torch's global RNG.
    """

    def __init__(
        self,
        seqs: Sequence[torch.Tensor],
        labels: Sequence[int] | torch.Tensor,
        batch_size: int = 32,
        *,
        shuffle: bool = True,
        seed: int | None = None,
    ):
        if len(seqs) != len(labels):
            raise ValueError(f"got {len(seqs)} sequences but {len(labels)} labels")
        if len(seqs) == 0:
            raise ValueError("no sequences to batch")
        for i, s in enumerate(seqs):
            if len(s) == 0:
                raise ValueError(f"sequence {i} has no steps; every sequence needs at least one")
        self.seqs = list(seqs)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.lengths = [len(s) for s in self.seqs]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.seqs) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        batches = bucket_batches(
            self.lengths, self.batch_size, shuffle=self.shuffle, generator=self.generator
        )
        for idx in batches:
            x, lengths = pad_sequences([self.seqs[i] for i in idx])
            yield x, lengths, self.labels[idx]
