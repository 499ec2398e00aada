"""The four generators of the 1997 experiments produce exactly the sequences the paper describes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit.tasks.reproduce import spec_for
from lstmkit.tasks.reproduce.generators import (
    REBER_SYMBOLS,
    adding_problem,
    embedded_reber,
    long_lag,
    reber_strings,
    temporal_order,
)

# The Reber graph written out independently of the generator: state -> {symbol: next state}.
REBER = {
    0: {"T": 1, "P": 2},
    1: {"S": 1, "X": 3},
    2: {"T": 2, "V": 4},
    3: {"X": 2, "S": 5},
    4: {"P": 3, "V": 5},
}


def _is_embedded_reber(string: str) -> bool:
    if len(string) < 9 or string[0] != "B" or string[1] not in "TP" or string[2] != "B":
        return False
    if string[-3:] != "E" + string[1] + "E":
        return False
    state = 0
    for symbol in string[3:-3]:
        if state == 5 or symbol not in REBER[state]:
            return False
        state = REBER[state][symbol]
    return state == 5


def _strings(batch) -> list[str]:
    symbols = batch.inputs.argmax(-1)
    return [
        "".join(REBER_SYMBOLS[s] for s in symbols[k, :n].tolist()) + "E"
        for k, n in enumerate(batch.lengths.tolist())
    ]


@settings(max_examples=25, deadline=None)
@given(T=st.integers(10, 400), seed=st.integers(0, 2**32 - 1))
def test_adding_problem_follows_the_paper(T: int, seed: int) -> None:
    b = adding_problem(64, np.random.default_rng(seed), T)
    values, markers = b.inputs[..., 0], b.inputs[..., 1]
    assert b.lengths.min() >= T and b.lengths.max() <= T + T // 10
    for k, n in enumerate(b.lengths.tolist()):
        marked = torch.nonzero(markers[k] == 1.0).flatten().tolist()
        assert len(marked) == 2
        first, second = marked[0], marked[1]
        assert first < 10 or second < 10  # one among the first ten pairs
        assert max(first, second) < max(T // 2 - 1, 10)  # the other among the first T/2 - 1
        for end in (0, n - 1):
            if end not in marked:
                assert markers[k, end] == -1.0
        others = [t for t in range(1, n - 1) if t not in marked]
        assert torch.all(markers[k, others] == 0.0)
        if 0 in marked:
            assert values[k, 0] == 0.0  # the paper sets X1 to zero in that rare case
        assert torch.all(values[k, :n].abs() <= 1.0)
        assert torch.all(b.inputs[k, n:] == 0.0)
        expected = 0.5 + (values[k, first] + values[k, second]) / 4.0
        assert b.targets[k].item() == pytest.approx(expected.item(), abs=1e-6)


def test_adding_problem_covers_its_ranges() -> None:
    T = 100
    b = adding_problem(4000, np.random.default_rng(0), T)
    assert set(b.lengths.tolist()) == set(range(T, T + T // 10 + 1))
    positions = torch.nonzero(b.inputs[..., 1] == 1.0)[:, 1]
    assert positions.min() == 0 and positions.max() == T // 2 - 2
    assert 0.0 <= b.targets.min() < 0.1 and 0.9 < b.targets.max() <= 1.0
    assert b.targets.mean().item() == pytest.approx(0.5, abs=0.01)


def test_temporal_order_follows_the_paper() -> None:
    b = temporal_order(4000, np.random.default_rng(0))
    symbols = b.inputs.argmax(-1)
    assert set(b.lengths.tolist()) == set(range(100, 111))
    for k, n in enumerate(b.lengths.tolist()):
        row = symbols[k, :n]
        assert row[0] == 6 and row[-1] == 7  # E ... B
        relevant = torch.nonzero((row == 4) | (row == 5)).flatten().tolist()
        assert len(relevant) == 2
        t1, t2 = relevant
        assert 10 <= t1 <= 20 and 50 <= t2 <= 60
        assert torch.all(row[1:-1][(row[1:-1] != 4) & (row[1:-1] != 5)] < 4)
        assert b.targets[k] == 2 * int(row[t1] == 5) + int(row[t2] == 5)  # XX Q, XY R, YX S, YY U
    counts = torch.bincount(b.targets, minlength=4) / len(b)
    assert torch.all((counts - 0.25).abs() < 0.03)


def test_embedded_reber_strings_are_grammatical_with_the_right_legal_sets() -> None:
    b = embedded_reber(500, np.random.default_rng(0))
    for k, string in enumerate(_strings(b)):
        assert _is_embedded_reber(string), string
        legal = b.targets[k]
        for t in range(len(string) - 1):
            assert legal[t, REBER_SYMBOLS.index(string[t + 1])]  # what came next was legal
        assert legal[0].sum() == 2  # T or P after the first B
        assert legal[len(string) - 3].nonzero().flatten().tolist() == [
            REBER_SYMBOLS.index(string[1])
        ]  # the long-lag step: only the branch taken at the start
        assert not legal[len(string) - 1 :].any()
    assert {s[1] for s in _strings(b)} == {"T", "P"}


def test_reber_test_set_is_fixed_and_disjoint_from_training_strings() -> None:
    spec = spec_for("reber")
    test = spec.test_set()
    assert torch.equal(test.inputs, spec.test_set().inputs)
    train = spec.train_data(np.random.default_rng(0), 4096)
    assert reber_strings(test).isdisjoint(reber_strings(train))
    assert len(test) == 256


def test_long_lag_sequences() -> None:
    p = 100
    b = long_lag(64, np.random.default_rng(0), p)
    symbols = b.inputs.argmax(-1)
    assert b.inputs.shape == (64, p, p + 1)
    assert torch.equal(symbols[:, 1:], torch.arange(p - 1).expand(64, -1))  # a1..a_{p-1}
    assert torch.equal(b.targets[:, -1], symbols[:, 0])  # the last symbol repeats the first
    assert set(symbols[:, 0].tolist()) == {p - 1, p}  # x and y
    balanced = long_lag(10, np.random.default_rng(1), p, balanced=True)
    assert (balanced.inputs[:, 0].argmax(-1) == p - 1).sum() == 5


def test_fixed_test_sets_do_not_change() -> None:
    for name, T in [("adding", 100), ("temporal-order", None), ("longlag", 10)]:
        first, second = spec_for(name, T).test_set(), spec_for(name, T).test_set()
        assert torch.equal(first.inputs, second.inputs)
        assert torch.equal(first.targets, second.targets)
    assert len(spec_for("adding", 100).test_set()) == 2560


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adding_problem(4, np.random.default_rng(0), 5), "T must be an int >= 10"),
        (lambda: adding_problem(0, np.random.default_rng(0), 50), "positive int, got 0"),
        (lambda: long_lag(3, np.random.default_rng(0), 10, balanced=True), "even size, got 3"),
        (lambda: long_lag(4, np.random.default_rng(0), 1), "p must be an int >= 2"),
        (lambda: spec_for("copy"), "unknown experiment 'copy'"),
        (lambda: spec_for("reber", 50), "--T applies to adding and longlag only"),
    ],
)
def test_bad_input(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
