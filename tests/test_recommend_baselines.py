"""Each baseline on a tiny hand-made log, against rankings and scores worked out by hand."""

import math

import numpy as np
import pytest
import torch

from lstmkit.tasks.recommend.baselines import (
    Popularity,
    SequentialRules,
    SessionKNN,
    SessionPopularity,
)

# Items 1..5 with training supports 5, 4, 3, 2, 1 (so popularity breaks ties unambiguously).
TRAIN = [np.array(s) for s in ([1, 2, 3], [1, 2, 4], [1, 3], [2, 1, 5], [1, 2, 3, 4])]
V1 = 6  # ids 0..5


def ranking(scores_row):
    """Items 1..5 best first (id 0 is padding and never ranked)."""
    return [int(i) for i in torch.argsort(scores_row[1:], descending=True, stable=True) + 1]


def test_popularity_scores_the_training_supports():
    scores = Popularity().fit(TRAIN, V1).session_scores(np.array([3, 4, 2]))
    assert scores.shape == (2, V1)
    assert scores[0].tolist() == [0, 5, 4, 3, 2, 1] == scores[1].tolist()


def test_session_popularity_puts_the_session_first_then_popularity():
    scores = SessionPopularity().fit(TRAIN, V1).session_scores(np.array([3, 4, 2, 3]))
    assert [ranking(r) for r in scores] == [[3, 1, 2, 4, 5], [3, 4, 1, 2, 5], [2, 3, 4, 1, 5]]
    repeated = SessionPopularity().fit(TRAIN, V1).session_scores(np.array([5, 4, 5, 1]))
    assert ranking(repeated[2]) == [5, 4, 1, 2, 3]  # 5 twice in the prefix beats 4 once


def test_sequential_rules_by_hand():
    sr = SequentialRules(steps=10).fit(TRAIN, V1)
    # w(1 -> j): 1->2 in three sessions at distance 1; 1->3 at distances 2, 1, 2; 1->4 at
    # distances 2 and 3; 1->5 at distance 1.
    want_1 = [0, 0, 3.0, 0.5 + 1 + 0.5, 0.5 + 1 / 3, 1.0]
    want_2 = [0, 1.0, 0, 1 + 1, 1 + 0.5, 0.5]
    scores = sr.session_scores(np.array([1, 2, 3]))
    torch.testing.assert_close(
        scores[0], torch.tensor(want_1, dtype=torch.float64), atol=1e-8, rtol=0
    )
    torch.testing.assert_close(
        scores[1], torch.tensor(want_2, dtype=torch.float64), atol=1e-8, rtol=0
    )
    assert ranking(scores[0]) == [2, 3, 5, 4, 1]
    # Only the prefix's last item counts; an item with no rules falls back to popularity.
    rows = sr.session_scores(np.array([3, 4, 2]))
    assert ranking(rows[0]) == [4, 1, 2, 3, 5] and ranking(rows[1]) == [1, 2, 3, 4, 5]


def test_sequential_rules_reach_only_steps_ahead():
    one = SequentialRules(steps=1).fit(TRAIN, V1).session_scores(np.array([1, 1]))[0]
    torch.testing.assert_close(
        one[1:], torch.tensor([0.0, 3, 1, 0, 1], dtype=torch.float64), atol=1e-8, rtol=0
    )
    assert ranking(one) == [2, 3, 5, 1, 4]  # 3 and 5 tie at 1: the more popular 3 first


def brute_knn(prefix_weights, k, sample):
    """Oracle: cosine of the weighted prefix with each training session's item set."""
    norm = math.sqrt(sum(w * w for w in prefix_weights.values()))
    sims = []
    for idx, s in enumerate(TRAIN):
        items = set(s.tolist())
        dot = sum(w for i, w in prefix_weights.items() if i in items)
        if dot > 0:
            sims.append((idx, dot / (norm * math.sqrt(len(items)))))
    sims = sorted(sims, key=lambda p: p[0])[-sample:]  # the most recent ones sharing an item
    neighbours = sorted(sims, key=lambda p: -p[1])[:k]
    scores = np.zeros(V1)
    for idx, sim in neighbours:
        for i in set(TRAIN[idx].tolist()):
            scores[i] += sim
    return scores


@pytest.mark.parametrize(("k", "sample"), [(2, 1000), (1, 1000), (5, 1)])
def test_session_knn_without_decay_matches_the_cosine_oracle(k, sample):
    knn = SessionKNN(k=k, sample=sample, decay_steps=None).fit(TRAIN, V1, ends=np.arange(5.0))
    scores = knn.session_scores(np.array([3, 4, 1]))
    for t, prefix in enumerate(([3], [3, 4])):
        want = brute_knn({i: 1.0 for i in prefix}, k, sample)
        got = scores[t].numpy()
        # the baseline leaves out ||w||, a factor common to every neighbour of a prefix
        np.testing.assert_allclose(got / math.sqrt(len(prefix)), want, atol=1e-6)


def test_session_knn_by_hand():
    # prefix [3]: sessions holding 3 are [1,2,3] (1/sqrt 3), [1,3] (1/sqrt 2), [1,2,3,4] (1/2)
    knn = SessionKNN(k=2, sample=1000, decay_steps=None).fit(TRAIN, V1)
    row = knn.session_scores(np.array([3, 1]))[0]
    torch.testing.assert_close(
        row[1:4],
        torch.tensor([2**-0.5 + 3**-0.5, 3**-0.5, 2**-0.5 + 3**-0.5], dtype=torch.float64),
        atol=1e-8,
        rtol=0,
    )
    assert ranking(row) == [1, 3, 2, 4, 5]
    # sample=1: only the most recent session sharing an item, [1, 2, 3, 4]
    recent = SessionKNN(k=2, sample=1, decay_steps=None).fit(TRAIN, V1, ends=np.arange(5.0))
    assert ranking(recent.session_scores(np.array([3, 1]))[0]) == [1, 2, 3, 4, 5]


def test_session_knn_decays_older_prefix_items():
    # prefix [3, 4], decay over 2 steps: 4 weighs 1, 3 weighs 1/2. Similarities (up to ||w||):
    # [1,2,3] .5/sqrt3, [1,2,4] 1/sqrt3, [1,3] .5/sqrt2, [1,2,3,4] 1.5/2 -> k=2: the last two.
    knn = SessionKNN(k=2, sample=1000, decay_steps=2).fit(TRAIN, V1)
    row = knn.session_scores(np.array([3, 4, 2]))[1]
    want = [0.0, 0.75 + 3**-0.5, 0.75 + 3**-0.5, 0.75, 0.75 + 3**-0.5, 0.0]
    torch.testing.assert_close(row, torch.tensor(want, dtype=torch.float64), atol=1e-6, rtol=0)
    assert ranking(row) == [1, 2, 4, 3, 5]
