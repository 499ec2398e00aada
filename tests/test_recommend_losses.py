"""Item-ranking losses (lstmkit.nn.item_losses) against formulas written out element by element."""

import math

import pytest
import torch

from lstmkit.nn.item_losses import (
    bpr_max_loss,
    candidate_scores,
    full_softmax_loss,
    popularity_sampler,
    sampled_softmax_loss,
)


def setup(seed, n=5, m=4, v=9, h=3):
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(v, h, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(v, generator=gen, dtype=torch.float64)
    targets = torch.tensor([0, 3, 3, 5, 8])[:n]  # a repeated target: rows 1 and 2
    negatives = torch.tensor([3, 1, 7, 8])[:m]  # 3 and 8 are accidental hits for some rows
    return hidden, targets, weight, bias, negatives


def test_full_softmax_is_cross_entropy_over_every_item():
    hidden, targets, weight, bias, _ = setup(0)
    logits = torch.stack(
        [torch.stack([hidden[i] @ weight[j] + bias[j] for j in range(9)]) for i in range(5)]
    )
    want = -torch.stack([logits[i].log_softmax(0)[targets[i]] for i in range(5)]).mean()
    torch.testing.assert_close(full_softmax_loss(hidden, targets, weight, bias), want)


def sampled_oracle(hidden, targets, weight, bias, negatives, log_q):
    """Row by row: the positive first, then every candidate that is not the row's target."""
    candidates = targets.tolist() + negatives.tolist()
    losses = []
    for i, t in enumerate(targets.tolist()):
        others = [c for j, c in enumerate(candidates) if j != i and c != t]
        items = [t, *others]
        correction = [0.0 if log_q is None else log_q[c] for c in items]
        score = torch.stack(
            [hidden[i] @ weight[c] + bias[c] - q for c, q in zip(items, correction)]
        )
        losses.append(-score.log_softmax(0)[0])
    return torch.stack(losses).mean()


@pytest.mark.parametrize("corrected", [False, True])
def test_sampled_softmax_matches_the_row_by_row_oracle_and_its_gradient(corrected):
    hidden, targets, weight, bias, negatives = setup(1)
    log_q = torch.linspace(-2, 0, 9, dtype=torch.float64) if corrected else None
    got = sampled_softmax_loss(hidden, targets, weight, bias, negatives, log_q)
    want = sampled_oracle(hidden, targets, weight, bias, negatives, log_q)
    torch.testing.assert_close(got, want)
    g_got = torch.autograd.grad(got, (hidden, weight))
    g_want = torch.autograd.grad(want, (hidden, weight))
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b)


def test_accidental_hits_are_masked_but_the_positive_is_kept():
    hidden, targets, weight, bias, negatives = setup(2)
    scores = candidate_scores(hidden, targets, weight, bias, negatives)
    assert scores.shape == (5, 9)
    assert torch.isfinite(scores.diagonal()).all()
    scores = scores.detach()
    assert math.isinf(scores[1, 2]) and math.isinf(scores[2, 1])  # the repeated target 3
    assert math.isinf(scores[1, 5]) and math.isinf(scores[4, 8])  # negatives 3 and 8


def test_bpr_max_matches_its_formula():
    hidden, targets, weight, bias, negatives = setup(3)
    got = bpr_max_loss(hidden, targets, weight, bias, negatives, reg=0.5)
    candidates = targets.tolist() + negatives.tolist()
    losses = []
    for i, t in enumerate(targets.tolist()):
        r_i = hidden[i] @ weight[t] + bias[t]
        neg = [c for j, c in enumerate(candidates) if j != i and c != t]
        r = torch.stack([hidden[i] @ weight[c] + bias[c] for c in neg])
        s = r.softmax(0)
        losses.append(-torch.log((s * torch.sigmoid(r_i - r)).sum()) + 0.5 * (s * r**2).sum())
    want = torch.stack(losses).mean()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        torch.autograd.grad(got, hidden)[0], torch.autograd.grad(want, hidden)[0]
    )


def test_gradcheck_of_the_sampled_losses():
    hidden, targets, weight, bias, negatives = setup(4, n=3, m=3, v=6, h=2)
    negatives = torch.tensor([1, 2, 4])
    targets = torch.tensor([0, 3, 5])
    assert torch.autograd.gradcheck(
        lambda h, w: sampled_softmax_loss(h, targets, w, bias[:6], negatives), (hidden, weight[:6])
    )
    assert torch.autograd.gradcheck(
        lambda h, w: bpr_max_loss(h, targets, w, bias[:6], negatives), (hidden, weight[:6])
    )


def test_popularity_sampler_probabilities_and_expected_counts():
    counts = torch.tensor([4.0, 1.0, 0.0, 9.0])
    probs, log_q = popularity_sampler(counts, alpha=0.5, num_negatives=10, batch_positions=7)
    want = torch.tensor([2.0, 1.0, 0.0, 3.0]) / 6
    torch.testing.assert_close(probs, want)
    expected = 10 * want + 7 * counts / 14
    torch.testing.assert_close(log_q[[0, 1, 3]], expected[[0, 1, 3]].log())
    draws = torch.multinomial(
        probs, 5000, replacement=True, generator=torch.Generator().manual_seed(0)
    )
    assert not (draws == 2).any()  # an unseen item is never drawn
    torch.testing.assert_close(torch.bincount(draws, minlength=4) / 5000.0, want, atol=0.03, rtol=0)
