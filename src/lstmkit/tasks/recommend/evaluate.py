"""Scoring every position of every session, for the model and the baselines alike.

Position t of a session of n items (t = 1..n-1) asks for item t + 1 given items 1..t; each
ranker scores all items there and `lstmkit.metrics.ranking.RankingAccumulator` takes the
rank of the true item (ties counted against it) and the top-k list.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch

from lstmkit.metrics.ranking import RankingAccumulator

from .model import SessionRNN

__all__ = ["SessionScorer", "length_batches", "rank_baseline", "rank_model", "session_tensor"]

POSITIONS_PER_BATCH = 4096  # rows of scores held at once: 4096 x V floats


class SessionScorer(Protocol):
    """What a baseline offers: scores (n - 1, V + 1) for every prefix of one session."""

    name: str

    def session_scores(self, session: np.ndarray) -> torch.Tensor: ...


def length_batches(
    lengths: Sequence[int], max_positions: int = POSITIONS_PER_BATCH
) -> list[list[int]]:
    """Session indices grouped, by length, so that a padded batch holds <= max_positions steps
    (a longer session goes alone)."""
    order = np.argsort(lengths, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1) * int(lengths[i]) > max_positions:
            batches.append(current)
            current = []
        current.append(int(i))
    if current:
        batches.append(current)
    return batches


def session_tensor(sessions: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, T) ids and (B,) lengths."""
    lengths = torch.tensor([len(s) for s in sessions])
    padded = torch.zeros(len(sessions), int(lengths.max()), dtype=torch.long)
    for row, s in enumerate(sessions):
        padded[row, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.int64))
    return padded, lengths


@torch.no_grad()
def model_position_scores(
    model: SessionRNN, sessions: Sequence[np.ndarray]
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(scores (P, V + 1), targets (P,)) batch by batch over every position of ``sessions``."""
    was_training = model.training
    model.eval()
    try:
        for idx in length_batches([len(s) for s in sessions]):
            padded, lengths = session_tensor([sessions[i] for i in idx])
            hidden = model.encode(padded, lengths)  # (B, T, H)
            # Position t predicts item t + 1: every step but each session's last.
            valid = torch.arange(padded.shape[1]) < (lengths - 1).unsqueeze(1)  # (B, T)
            targets = padded[:, 1:][valid[:, :-1]]
            yield model.scores(hidden[valid]), targets
    finally:
        model.train(was_training)


def rank_model(
    model: SessionRNN, sessions: Sequence[np.ndarray], accumulator: RankingAccumulator
) -> RankingAccumulator:
    """Add the model's ranking of every position of ``sessions`` to ``accumulator``."""
    for scores, targets in model_position_scores(model, sessions):
        accumulator.add(scores, targets)
    return accumulator


def rank_baseline(
    baseline: SessionScorer, sessions: Sequence[np.ndarray], accumulator: RankingAccumulator
) -> RankingAccumulator:
    """Add a baseline's ranking of every position of ``sessions`` to ``accumulator``."""
    scores, targets, rows = [], [], 0
    for s in sessions:
        scores.append(baseline.session_scores(s))
        targets.append(torch.from_numpy(np.asarray(s[1:], dtype=np.int64)))
        rows += len(s) - 1
        if rows >= POSITIONS_PER_BATCH:
            accumulator.add(torch.cat(scores), torch.cat(targets))
            scores, targets, rows = [], [], 0
    if scores:
        accumulator.add(torch.cat(scores), torch.cat(targets))
    return accumulator
