"""Ranking metrics on hand-made rankings (ties included) and against brute force."""

import math

import numpy as np
import pytest
import torch

from lstmkit.metrics.ranking import (
    RankingAccumulator,
    coverage,
    mrr_at_k,
    popularity_bias,
    recall_at_k,
    target_ranks,
)


def test_ranks_of_hand_made_rankings_count_ties_against_the_target():
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.5, 0.2],  # target 2: only 0.9 above -> rank 2
            [0.3, 0.3, 0.3, 0.3],  # target 1: three others tie with it -> rank 4 (pessimistic)
            [0.0, 1.0, 1.0, 0.5],  # target 2 ties with item 1 at the top -> rank 2
            [0.7, 0.2, 0.1, 0.8],  # target 3 is the best -> rank 1
        ]
    )
    ranks = target_ranks(scores, torch.tensor([2, 1, 2, 3]))
    assert ranks.tolist() == [2, 4, 2, 1]
    assert recall_at_k(ranks, 1) == 0.25
    assert recall_at_k(ranks, 2) == 0.75
    assert mrr_at_k(ranks, 2) == pytest.approx((1 / 2 + 0 + 1 / 2 + 1) / 4)
    assert mrr_at_k(ranks, 4) == pytest.approx((1 / 2 + 1 / 4 + 1 / 2 + 1) / 4)


def test_a_nan_score_ranks_last_in_target_ranks():
    ranks = target_ranks(torch.tensor([[float("nan"), 0.2, 0.1]]), torch.tensor([0]))
    assert ranks.tolist() == [3]


def test_coverage_and_popularity_bias_by_hand():
    top = torch.tensor([[1, 2], [1, 3]])
    assert coverage(top, 5) == 3 / 5
    counts = torch.tensor([0.0, 10.0, 5.0, 1.0, 0.0])
    assert popularity_bias(top, counts) == pytest.approx((1.0 + 0.5 + 1.0 + 0.1) / 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accumulator_matches_brute_force_ranks_with_many_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 6, (300, 40), generator=gen).float()  # coarse: ties everywhere
    targets = torch.randint(1, 40, (300,), generator=gen)
    depth = 12
    acc = RankingAccumulator((3, 5, 10), counts=torch.arange(40.0), exclude=[0], depth=depth)
    acc.add(scores.clone(), targets)
    brute = scores.clone()
    brute[:, 0] = -math.inf
    # brute force: count the items scored at least as high as the target, one by one
    expected = [sum(float(s) >= float(row[t]) for s in row) for row, t in zip(brute, targets)]
    expected = torch.tensor(expected).clamp(max=depth + 1)
    assert torch.equal(acc.all_ranks(), expected)
    summary = acc.summary()
    for k in (3, 5, 10):
        hits = (expected <= k).float()
        assert summary[f"recall@{k}"] == pytest.approx(float(hits.mean()))
        assert summary[f"mrr@{k}"] == pytest.approx(float((hits / expected).mean()))
    assert summary["positions"] == 300
    tops = torch.cat(acc.tops)
    assert not (tops == 0).any()  # the excluded padding id is never recommended
    assert summary["coverage@10"] == pytest.approx(len(np.unique(tops.numpy())) / 39)


def test_accumulator_refuses_nan_and_bad_shapes():
    acc = RankingAccumulator((2,))
    with pytest.raises(ValueError, match="NaN"):
        acc.add(torch.tensor([[0.1, float("nan"), 0.3]]), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"scores must be \(N, V\)"):
        acc.add(torch.zeros(3), torch.tensor([0]))
    with pytest.raises(ValueError, match="beyond depth"):
        acc.recall_curve([1, 5])


def test_coverage_and_top_lists_never_count_an_excluded_item_with_fewer_items_than_k():
    acc = RankingAccumulator((2, 5), counts=torch.tensor([0.0, 3.0, 1.0, 2.0]), exclude=[0])
    scores = torch.rand(6, 4)
    acc.add(scores, torch.randint(1, 4, (6,)))
    summary = acc.summary()
    # Three real items, k = 5: every list holds all three, never the padding 0.
    assert summary["coverage@5"] == 1.0 and summary["recall@5"] == 1.0
    assert summary["popularity@5"] == pytest.approx((3 + 1 + 2) / 3 / 3)
