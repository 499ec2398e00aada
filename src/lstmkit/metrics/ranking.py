"""Next-item ranking metrics: Recall@k (hit rate), MRR@k, item coverage and popularity bias.

Each scored position ranks every item by its score and asks where the true next item lands.

Tie rule (pessimistic): the target's rank is the number of items scored at least as high
as it, itself included: ``rank = #{j : s_j >= s_target}``. An item tied with the target
counts as ranked before it, so a recommender that gives many items one score (a constant,
or zero for all it knows nothing about) earns no credit from the ties; a NaN score ranks
last. Top-k lists (for coverage and popularity bias) are ``torch.topk``'s, which breaks
ties arbitrarily.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "RankingAccumulator",
    "coverage",
    "mrr_at_k",
    "popularity_bias",
    "recall_at_k",
    "target_ranks",
]


def target_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The 1-based rank of each target among all items, ties counted against it.

    Args:
        scores: (N, V) a score per item (higher is better) for N positions.
        targets: (N,) the index of the true next item of each position.

    Returns:
        (N,) int64 ranks in 1..V.

    >>> target_ranks(torch.tensor([[0.1, 0.5, 0.5, 0.2]]), torch.tensor([1])).tolist()
    [2]
    """
    if scores.dim() != 2 or targets.shape != scores.shape[:1]:
        raise ValueError(
            f"scores must be (N, V) and targets (N,), got {tuple(scores.shape)} "
            f"and {tuple(targets.shape)}"
        )
    scores = torch.nan_to_num(scores.float(), nan=-torch.inf)
    target = scores.gather(1, targets.long().unsqueeze(1))  # (N, 1)
    return (scores >= target).sum(1)


def recall_at_k(ranks: torch.Tensor | np.ndarray, k: int) -> float:
    """Share of positions whose target ranks in the top k (the hit rate; one target each)."""
    ranks = torch.as_tensor(ranks)
    return float((ranks <= k).double().mean()) if ranks.numel() else float("nan")


def mrr_at_k(ranks: torch.Tensor | np.ndarray, k: int) -> float:
    """Mean reciprocal rank, counting 0 for a target outside the top k."""
    ranks = torch.as_tensor(ranks).double()
    if not ranks.numel():
        return float("nan")
    return float(torch.where(ranks <= k, 1.0 / ranks, torch.zeros_like(ranks)).mean())


def coverage(top_lists: torch.Tensor | np.ndarray, num_items: int) -> float:
    """Share of the ``num_items`` items that appear in at least one top-k list (rows)."""
    top = torch.as_tensor(top_lists)
    return float(torch.unique(top).numel()) / num_items if top.numel() else 0.0


def popularity_bias(
    top_lists: torch.Tensor | np.ndarray, counts: torch.Tensor | np.ndarray
) -> float:
    """Mean popularity of the recommended items, each item's training count divided by the
    largest count (1 = always the single most popular item), averaged over lists and ranks."""
    top = torch.as_tensor(top_lists).long()
    counts = torch.as_tensor(counts).double()
    if not top.numel():
        return float("nan")
    return float((counts[top] / counts.max()).mean())


class RankingAccumulator:
    """Collects ranks and top-k lists batch by batch, then reports every metric at once.

    Ranks are exact (the tie rule of `target_ranks`) up to ``depth``; a target ranked below
    it is stored as ``depth + 1``, enough for every metric at k <= depth, and it needs only
    each row's top ``depth + 1`` scores instead of a comparison with every item.

    Args:
        ks: the cut-offs k (the largest also sets the top-k lists' length).
        counts: (V,) training support of each item, for the popularity bias.
        exclude: item indices never recommended (e.g. 0, the padding id); ``add`` sets their
            scores to -inf in place, and they do not count in the coverage's item total.
        depth: ranks are exact up to this; default max(ks).

    >>> acc = RankingAccumulator((1, 2), counts=torch.tensor([5.0, 1.0, 2.0]))
    >>> acc.add(torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.1]]), torch.tensor([2, 1]))
    >>> acc.summary()["recall@2"], acc.summary()["mrr@2"]
    (1.0, 0.75)
    """

    def __init__(
        self,
        ks: Sequence[int] = (5, 10, 20),
        counts: torch.Tensor | np.ndarray | None = None,
        exclude: Sequence[int] = (),
        depth: int | None = None,
    ):
        self.ks = tuple(sorted(set(int(k) for k in ks)))
        self.depth = max(self.ks[-1], depth or 0)
        self.counts = None if counts is None else torch.as_tensor(counts).double()
        self.exclude = list(exclude)
        self.ranks: list[torch.Tensor] = []
        self.tops: list[torch.Tensor] = []
        self.num_items: int | None = None

    def add(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        """Score one batch: (N, V) scores and (N,) target indices."""
        if scores.dim() != 2 or targets.shape != scores.shape[:1]:
            raise ValueError(
                f"scores must be (N, V) and targets (N,), got {tuple(scores.shape)} "
                f"and {tuple(targets.shape)}"
            )
        if self.exclude:
            scores[:, self.exclude] = -torch.inf
        self.num_items = scores.shape[1] - len(self.exclude)
        top = scores.topk(min(self.depth + 1, scores.shape[1]), dim=1)
        if torch.isnan(top.values).any():  # topk puts NaN first, so this sees any NaN
            raise ValueError("the scores hold NaN; check the model or baseline that made them")
        target = scores.gather(1, targets.long().unsqueeze(1))  # (N, 1)
        # With fewer than depth + 1 of the top scores >= the target's, they are all of them.
        count = (top.values >= target).sum(1)
        self.ranks.append(torch.where(count <= self.depth, count, self.depth + 1))
        # With fewer items than k, a top-k list holds them all and never an excluded one.
        self.tops.append(top.indices[:, : min(self.ks[-1], self.num_items)])

    def all_ranks(self) -> torch.Tensor:
        """Every position's rank so far, (N,) (depth + 1 for a target ranked below depth)."""
        return torch.cat(self.ranks) if self.ranks else torch.empty(0, dtype=torch.long)

    def summary(self) -> dict[str, float]:
        """recall@k and mrr@k for each k, and coverage@K and popularity@K for the largest K."""
        ranks, k_max = self.all_ranks(), self.ks[-1]
        out: dict[str, float] = {}
        for k in self.ks:
            out[f"recall@{k}"] = recall_at_k(ranks, k)
            out[f"mrr@{k}"] = mrr_at_k(ranks, k)
        tops = torch.cat(self.tops) if self.tops else torch.empty(0, k_max, dtype=torch.long)
        out[f"coverage@{k_max}"] = coverage(tops, self.num_items or 1)
        if self.counts is not None:
            out[f"popularity@{k_max}"] = popularity_bias(tops, self.counts)
        out["positions"] = int(ranks.numel())
        return out

    def recall_curve(self, ks: Sequence[int]) -> list[float]:
        """Recall@k at each k of ``ks`` (each at most ``depth``), for the Recall@k plot."""
        if max(ks) > self.depth:
            raise ValueError(f"recall_curve reaches k = {max(ks)}, beyond depth {self.depth}")
        ranks = self.all_ranks()
        return [recall_at_k(ranks, int(k)) for k in ks]
