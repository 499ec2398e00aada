"""Session-parallel mini-batches: every pair once, each slot reset exactly when its session ends,
and a model's scores for a session the same batched with others or alone."""

import itertools

import numpy as np
import pytest
import torch

from lstmkit.data.sessions import SessionParallelBatches, session_layout
from lstmkit.tasks.recommend.model import SessionRNN


def random_sessions(rng, n, items=30, longest=9):
    return [rng.integers(1, items, size=int(rng.integers(2, longest + 1))) for _ in range(n)]


def simulate(sessions, batch_size):
    """Oracle: step the slots one event at a time, a finished slot taking the next session."""
    queue = list(range(len(sessions)))
    slots = [None] * batch_size  # (session index, position) per slot
    rows = []
    while queue or any(s is not None for s in slots):
        step = []
        for b in range(batch_size):
            if slots[b] is None and queue:
                slots[b] = (queue.pop(0), 0)
                start = True
            else:
                start = False
            if slots[b] is None:
                step.append((0, 0, False, False))
                continue
            k, pos = slots[b]
            s = sessions[k]
            step.append((s[pos], s[pos + 1], start, True))
            slots[b] = (k, pos + 1) if pos + 2 < len(s) else None
        rows.append(step)
    return [np.array([[r[b][f] for r in rows] for b in range(batch_size)]) for f in range(4)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_matches_stepping_the_slots_by_hand(seed):
    rng = np.random.default_rng(seed)
    sessions = random_sessions(rng, 23)
    batches = SessionParallelBatches(sessions, batch_size=4, steps=3, shuffle=False)
    grid = batches.grid(list(range(len(sessions))))
    oracle = simulate(sessions, 4)
    for got, want in zip(grid, oracle):
        assert np.array_equal(got, want.astype(got.dtype))
    chunks = list(batches)
    assert all(c.inputs.shape[1] <= 3 for c in chunks)
    joined = [torch.cat([getattr(c, f) for c in chunks], 1).numpy() for f in chunks[0]._fields]
    for got, want in zip(joined, grid):
        assert np.array_equal(got, want)


def test_every_pair_appears_once_per_pass_whatever_the_order():
    rng = np.random.default_rng(3)
    sessions = random_sessions(rng, 40, items=1000, longest=12)
    torch.manual_seed(0)
    batches = SessionParallelBatches(sessions, batch_size=5, steps=4)
    pairs = []
    for c in batches:
        pairs += list(zip(c.inputs[c.mask].tolist(), c.targets[c.mask].tolist()))
    want = [(int(a), int(b)) for s in sessions for a, b in itertools.pairwise(s)]
    assert sorted(pairs) == sorted(want)
    assert batches.pairs == len(want)


def test_layout_gives_a_session_to_the_slot_that_frees_first():
    slot, start = session_layout([3, 2, 4, 2], batch_size=2)
    # slot 0: steps 0-1, slot 1: step 0; session 2 goes to slot 1 at step 1 (free first)
    assert slot.tolist() == [0, 1, 1, 0] and start.tolist() == [0, 0, 1, 2]


def test_bad_sessions_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="session 1 has 1 events"):
        SessionParallelBatches([[1, 2], [3]])
    with pytest.raises(ValueError, match="ids start at 1"):
        SessionParallelBatches([[0, 2]])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SessionParallelBatches([[1, 2]], batch_size=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_state_is_reset_exactly_when_a_slot_starts_a_new_session(cell):
    """A session's scores inside the session-parallel stream equal its scores run alone."""
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    sessions = random_sessions(rng, 13, items=20, longest=7)
    model = SessionRNN(20, embedding_dim=6, hidden_size=5, cell=cell, dropout=0.0).eval()
    batches = SessionParallelBatches(sessions, batch_size=3, steps=2, shuffle=False)
    grid = [torch.from_numpy(a) for a in batches.grid(list(range(len(sessions))))]
    state, outputs = None, []
    with torch.no_grad():
        for c in batches:  # the state flows from chunk to chunk, as in training
            hidden, state = model.run_chunk(c.inputs, c.starts, state)
            outputs.append(hidden)
        stream = torch.cat(outputs, 1)  # (B, S, H)
        slot, start = session_layout([len(s) for s in sessions], 3)
        for k, s in enumerate(sessions):
            alone = model.encode(torch.from_numpy(s)[None], torch.tensor([len(s)]))[0]
            steps = slice(start[k], start[k] + len(s) - 1)
            assert torch.equal(grid[0][slot[k], steps], torch.from_numpy(s[:-1]))
            torch.testing.assert_close(stream[slot[k], steps], alone[: len(s) - 1])
            # and the scores of the items, the same way
            torch.testing.assert_close(
                model.scores(stream[slot[k], steps]), model.scores(alone[: len(s) - 1])
            )


def test_a_session_scores_the_same_batched_with_others_or_alone():
    torch.manual_seed(1)
    from lstmkit.tasks.recommend.evaluate import model_position_scores

    rng = np.random.default_rng(5)
    sessions = random_sessions(rng, 9, items=15, longest=8)
    model = SessionRNN(15, embedding_dim=4, hidden_size=6).eval()
    together = torch.cat([s for s, _ in model_position_scores(model, sessions)])
    order = np.argsort([len(s) for s in sessions], kind="stable")
    alone = torch.cat([next(model_position_scores(model, [sessions[i]]))[0] for i in order])
    torch.testing.assert_close(together, alone)
