"""Losses for ranking many items from one hidden state (next-item recommendation, large outputs).

Every loss scores hidden states h (N, H) against item vectors W (V, H) and biases b (V,):
the score of item j is ``h @ W[j] + b[j]``. Targets index rows of W.

- `full_softmax_loss`: cross-entropy of the softmax over all V items.
- `sampled_softmax_loss`: the softmax over a shared candidate set: the batch's own targets
  (each row's positive, and a negative for every other row) plus negatives drawn once for
  the whole batch, with the log-Q correction (Jean et al. 2015; Yi et al. 2019) and
  accidental hits (a candidate equal to the row's target) removed.
- `bpr_max_loss`: BPR-max (Hidasi & Karatzoglou 2018, eq. 9) on the same candidates.
- `popularity_sampler`: the negatives' distribution ∝ support ** alpha, and log Q.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "bpr_max_loss",
    "candidate_scores",
    "full_softmax_loss",
    "popularity_sampler",
    "sampled_softmax_loss",
]


def full_softmax_loss(hidden: Tensor, targets: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Mean cross-entropy of the softmax over every item.

    Args:
        hidden: (N, H). targets: (N,) in 0..V-1. weight: (V, H). bias: (V,).

    Returns:
        The scalar mean loss.
    """
    return F.cross_entropy(F.linear(hidden, weight, bias), targets)


def candidate_scores(
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    bias: Tensor,
    negatives: Tensor,
    log_q: Tensor | None = None,
    *,
    batch_targets: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """Scores (N, N' + M) of each row against the candidates [batch targets, negatives].

    The batch's targets are ``targets`` (N' = N), or ``batch_targets`` (N',) when these N
    rows are rows ``offset ..`` of a larger batch (a data-parallel rank's share), so that
    each row meets the candidates it would meet in the whole batch. Column ``offset + i``
    is row i's positive; a candidate equal to a row's target elsewhere in that row (an
    accidental hit, or a repeated target) gets -inf, so it is neither a negative nor a
    second positive. With ``log_q`` (V,) the log of each item's expected count among the
    candidates is subtracted (the sampled softmax's correction towards the full softmax).
    """
    batch = targets if batch_targets is None else batch_targets
    candidates = torch.cat([batch, negatives])  # (N' + M,)
    scores = hidden @ weight[candidates].T + bias[candidates]  # (N, N' + M)
    if log_q is not None:
        scores = scores - log_q[candidates]
    hits = targets.unsqueeze(1) == candidates.unsqueeze(0)  # (N, N' + M)
    rows = torch.arange(len(targets), device=hits.device)
    hits[rows, offset + rows] = False
    return scores.masked_fill(hits, -torch.inf)


def sampled_softmax_loss(
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    bias: Tensor,
    negatives: Tensor,
    log_q: Tensor | None = None,
    *,
    batch_targets: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """Mean cross-entropy of the softmax over [the batch's targets, shared ``negatives``].

    Args:
        hidden: (N, H). targets: (N,). weight: (V, H). bias: (V,).
        negatives: (M,) item indices drawn for the whole batch.
        log_q: (V,) log expected count of each item among the candidates, or None.
        batch_targets, offset: the whole batch's targets when these rows are a share of
            it, starting at row ``offset`` (see `candidate_scores`).

    Returns:
        The scalar mean loss over the N rows.
    """
    scores = candidate_scores(hidden, targets, weight, bias, negatives, log_q,
                              batch_targets=batch_targets, offset=offset)  # fmt: skip
    positives = offset + torch.arange(len(targets), device=scores.device)
    return F.cross_entropy(scores, positives)


def bpr_max_loss(
    hidden: Tensor,
    targets: Tensor,
    weight: Tensor,
    bias: Tensor,
    negatives: Tensor,
    reg: float = 1.0,
    *,
    batch_targets: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """BPR-max: ``-log sum_j s_j σ(r_i - r_j) + reg * sum_j s_j r_j²``, s = softmax of the
    negatives' scores r_j (Hidasi & Karatzoglou 2018), averaged over the rows.

    The candidates are the batch's other targets and ``negatives`` (as in
    `sampled_softmax_loss`, ``batch_targets`` and ``offset`` too); a row with no negative
    left contributes zero.
    """
    scores = candidate_scores(hidden, targets, weight, bias, negatives,
                              batch_targets=batch_targets, offset=offset)  # fmt: skip
    rows = torch.arange(len(targets), device=scores.device)
    positive = scores[rows, offset + rows].unsqueeze(1)  # (N, 1)
    is_negative = torch.isfinite(scores)
    is_negative[rows, offset + rows] = False
    negative = scores.masked_fill(~is_negative, -torch.inf)
    s = torch.softmax(negative, dim=1).nan_to_num(0.0)  # a row of all -inf gives NaN: no negative
    finite = negative.masked_fill(~is_negative, 0.0)
    ranking = -torch.log((s * torch.sigmoid(positive - finite)).sum(1) + 1e-24)
    penalty = reg * (s * finite.square()).sum(1)
    return (ranking + penalty).masked_fill(~is_negative.any(1), 0.0).mean()


def popularity_sampler(
    counts: Tensor, alpha: float, num_negatives: int, batch_positions: int
) -> tuple[Tensor, Tensor]:
    """Negative-sampling probabilities ∝ counts ** alpha, and log Q for the candidates.

    Q(j), item j's expected count among the candidates, adds the ``num_negatives`` draws
    (probability p_j) and the ``batch_positions`` targets, which follow the data (∝ counts).

    Returns:
        ``(probs, log_q)``, both (V,); items with count 0 are never drawn.
    """
    counts = counts.double()
    probs = counts.pow(alpha) * (counts > 0)
    probs = probs / probs.sum()
    expected = num_negatives * probs + batch_positions * counts / counts.sum()
    return probs.float(), expected.clamp_min(1e-12).log().float()
