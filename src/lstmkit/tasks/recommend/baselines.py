"""The baselines session-based recommenders must beat (Ludewig & Jannach 2018), compact.

Each is fitted on the training sessions (item ids 1..V, 0 unused) and scores every item
for every prefix of a session: ``session_scores(session)`` returns (n - 1, V + 1), row t
given ``session[: t + 1]``, to predict ``session[t + 1]``. Items a baseline cannot tell apart
(a score of zero, mostly) are ordered by global popularity: a tie-breaker far below any real
difference of scores (scores are float64), so that no baseline loses to the tie rule.

- `Popularity`: the items most often seen in training.
- `SessionPopularity`: the items of the session so far, most frequent first, then popularity.
- `SequentialRules`: SR, rules i -> j from i followed by j within ``steps`` events of a
  training session, weighted 1/distance; the prefix's last item's rules.
- `SessionKNN`: SKNN (Jannach & Ludewig 2017) with the V-SKNN prefix weights: the ``k``
  training sessions most similar (cosine) to the prefix, among the ``sample`` most recent ones
  sharing an item with it; an item scores the summed similarity of the neighbours holding it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["BASELINES", "Popularity", "SequentialRules", "SessionKNN", "SessionPopularity"]

_TIE = 1e-9  # times popularity / max popularity: below any difference of the real scores


class Popularity:
    """Global popularity: every prefix gets the training support of each item.

    >>> Popularity().fit([np.array([1, 2]), np.array([2, 3])], 4).session_scores(np.array([1, 3]))
    tensor([[0., 1., 2., 1.]], dtype=torch.float64)
    """

    name = "popularity"

    def fit(self, sessions: Sequence[np.ndarray], num_items: int) -> Popularity:
        """Count each item's training events; ``num_items`` is V + 1 (ids 0..V)."""
        counts = np.zeros(num_items)
        for s in sessions:
            np.add.at(counts, s, 1.0)
        self.counts = torch.from_numpy(counts)
        self.tie = self.counts / max(float(self.counts.max()), 1.0) * _TIE
        return self

    def session_scores(self, session: np.ndarray) -> torch.Tensor:
        return self.counts.expand(len(session) - 1, -1).clone()


class SessionPopularity(Popularity):
    """Items already in the session first (by how often they occurred in it), then popularity."""

    name = "session popularity"

    def session_scores(self, session: np.ndarray) -> torch.Tensor:
        n = len(session) - 1
        seen = torch.zeros(n, len(self.counts), dtype=torch.float64)
        seen[torch.arange(n), torch.from_numpy(session[:-1])] = 1.0
        # Each prefix's counts; popularity, squeezed below 1, orders the rest and the ties.
        return seen.cumsum(0) + self.counts / (float(self.counts.max()) + 1.0)


class SequentialRules(Popularity):
    """SR: w(i -> j) = sum over training sessions of 1 / (position of j - position of i), for
    j at most ``steps`` events after i; the prefix scores its last item's rules.

    Args:
        steps: how far ahead a rule reaches. Default 10.
    """

    name = "sequential rules"

    def __init__(self, steps: int = 10):
        self.steps = steps

    def fit(self, sessions: Sequence[np.ndarray], num_items: int) -> SequentialRules:
        super().fit(sessions, num_items)
        rows, cols, weights = [], [], []
        for d in range(1, self.steps + 1):
            long = [s for s in sessions if len(s) > d]
            if not long:
                break
            rows.append(np.concatenate([s[:-d] for s in long]))
            cols.append(np.concatenate([s[d:] for s in long]))
            weights.append(np.full(len(rows[-1]), 1.0 / d))
        shape = (num_items, num_items)
        # COO -> CSR sums the repeated pairs.
        self.rules = sp.csr_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )
        return self

    def session_scores(self, session: np.ndarray) -> torch.Tensor:
        rules = self.rules[session[:-1]].toarray()  # (n - 1, V + 1)
        return torch.from_numpy(rules) + self.tie


class SessionKNN(Popularity):
    """SKNN with V-SKNN's linearly decaying prefix weights and a recency-sampled neighbourhood.

    The prefix is a vector over items: the item t steps back from its end weighs
    max(0, 1 - t / decay_steps) (1 for the last item; every item weighs 1 when decay_steps
    is None). Similarity to a training session s (a set) is the cosine
    ``sum_{i in s} w_i / (||w|| sqrt(|s|))``. Candidates: the ``sample`` training sessions
    that share an item with the prefix and ended last; neighbours: the ``k`` most similar.

    Args:
        k: neighbours. Default 100.
        sample: most recent candidate sessions. Default 1000.
        decay_steps: length of the linear decay of the prefix weights; None: no decay.
            Default 10.
    """

    name = "session kNN"

    def __init__(self, k: int = 100, sample: int = 1000, decay_steps: int | None = 10):
        self.k, self.sample, self.decay_steps = k, sample, decay_steps

    def fit(
        self, sessions: Sequence[np.ndarray], num_items: int, ends: np.ndarray | None = None
    ) -> SessionKNN:
        """Index the training sessions; ``ends`` (their end times) orders them by recency."""
        super().fit(sessions, num_items)
        order = np.arange(len(sessions)) if ends is None else np.argsort(ends, kind="stable")
        sets = [np.unique(sessions[i]) for i in order]  # row r: the r-th oldest session
        sizes = np.array([len(s) for s in sets])
        rows = np.repeat(np.arange(len(sets)), sizes)
        # (N, V + 1): session s's items, each 1 / sqrt(|s|), so a product with w is the cosine
        # up to ||w||, a factor common to every neighbour of one prefix.
        data = np.repeat(1.0 / np.sqrt(sizes), sizes)
        self.sets = sp.csr_matrix(
            (data, (rows, np.concatenate(sets))), shape=(len(sets), num_items)
        )
        self.sets_t = self.sets.T.tocsr()  # (V + 1, N), for prefix @ sets_t without a conversion
        self.members = sp.csr_matrix(
            (np.ones(len(rows)), (rows, np.concatenate(sets))), shape=self.sets.shape
        )
        return self

    def prefix_weights(self, session: np.ndarray) -> sp.csr_matrix:
        """(n - 1, V + 1): row t weighs the items of session[: t + 1] (decayed from its end)."""
        n = len(session) - 1
        rows, cols, vals = [], [], []
        for t in range(n):
            back = np.arange(t, -1, -1)  # steps from the end of the prefix, for each position
            w = np.ones(t + 1) if self.decay_steps is None else 1.0 - back / self.decay_steps
            keep = w > 0
            rows.append(np.full(int(keep.sum()), t))
            cols.append(session[: t + 1][keep])
            vals.append(w[keep])
        shape = (n, len(self.counts))
        # Duplicates (a repeated item) add up, as a count vector would.
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
        )

    def neighbours(self, session: np.ndarray) -> sp.csr_matrix:
        """(n - 1, N): each prefix's k neighbours and their similarity (zero elsewhere)."""
        sim = (self.prefix_weights(session) @ self.sets_t).tocsr()
        sim.sort_indices()  # columns are sessions oldest first: a row's last entries are the newest
        rows, cols, vals = [], [], []
        for t in range(sim.shape[0]):
            begin, end = sim.indptr[t], sim.indptr[t + 1]
            idx, val = sim.indices[begin:end][-self.sample :], sim.data[begin:end][-self.sample :]
            if len(val) > self.k:
                pick = np.argpartition(-val, self.k - 1)[: self.k]
                idx, val = idx[pick], val[pick]
            rows.append(np.full(len(idx), t))
            cols.append(idx)
            vals.append(val)
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=sim.shape
        )

    def session_scores(self, session: np.ndarray) -> torch.Tensor:
        scores = (self.neighbours(session) @ self.members).toarray()  # (n - 1, V + 1)
        return torch.from_numpy(scores) + self.tie


BASELINES = {cls.name: cls for cls in (Popularity, SessionPopularity, SequentialRules, SessionKNN)}
