"""Data generators for the long-time-lag experiments of Hochreiter & Schmidhuber (1997)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "REBER_SYMBOLS",
    "TEMPORAL_ORDER_SYMBOLS",
    "TEST_SEED",
    "SequenceBatch",
    "adding_problem",
    "embedded_reber",
    "long_lag",
    "reber_strings",
    "temporal_order",
]

# Every fixed test set is drawn from this seed; training streams use other seeds, so a
# test sequence is never a training sequence by construction of the stream (Reber excepted,
# which filters explicitly as the paper does).
TEST_SEED = 1997

REBER_SYMBOLS = "BTPSXVE"
_B, _T, _P, _S, _X, _V, _E = range(7)

# The Reber grammar as a graph (Cleeremans et al. 1989, the paper's Fig. 5):
# state -> the two (symbol, next state) edges, each taken with probability 1/2.
_REBER_EDGES: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    0: ((_T, 1), (_P, 2)),
    1: ((_S, 1), (_X, 3)),
    2: ((_T, 2), (_V, 4)),
    3: ((_X, 2), (_S, 5)),
    4: ((_P, 3), (_V, 5)),
}
_REBER_END = 5

TEMPORAL_ORDER_SYMBOLS = "abcdXYEB"


@dataclass(frozen=True)
class SequenceBatch:
    """A padded batch of sequences and what the network must produce for them.

    Attributes:
        inputs: (B, L, D) float32, zero past each sequence's length.
        lengths: (B,) int64, the number of valid steps of each sequence.
        targets: per task: (B, L, K) bool legal next symbols (Reber), (B, L) int64 next
            symbol (long lag), (B,) float32 sum (adding), (B,) int64 class (temporal order).
    """

    inputs: Tensor
    lengths: Tensor
    targets: Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def subset(self, index: slice | Tensor) -> SequenceBatch:
        """Return the sequences at ``index``, trimmed to their longest length."""
        lengths = self.lengths[index]
        width = int(lengths.max()) if len(lengths) else 0
        targets = self.targets[index]
        if targets.dim() >= 2:
            targets = targets[:, :width]
        return SequenceBatch(self.inputs[index, :width], lengths, targets)


def _one_hot(symbols: np.ndarray, size: int) -> Tensor:
    return torch.nn.functional.one_hot(torch.from_numpy(symbols).long(), size).float()


def _check_count(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the number of sequences must be a positive int, got {n!r}")


# --- Experiment 1: embedded Reber grammar -----------------------------------------------


def _reber_string(rng: np.random.Generator) -> list[int]:
    """One embedded Reber string, e.g. B T B P V V E T E, as symbol indices."""
    branch = _T if rng.random() < 0.5 else _P
    string, state = [_B, branch, _B], 0
    while state != _REBER_END:
        symbol, state = _REBER_EDGES[state][int(rng.random() < 0.5)]
        string.append(symbol)
    return [*string, _E, branch, _E]


def _legal_next(string: list[int]) -> np.ndarray:
    """(len - 1, 7) bool: which symbols may follow each prefix of an embedded Reber string."""
    legal = np.zeros((len(string) - 1, 7), dtype=bool)
    legal[0, [_T, _P]] = True  # after the outer B: either branch
    legal[1, _B] = True
    state = 0
    for t in range(2, len(string) - 3):  # inside the embedded string, from its B
        if state == _REBER_END:
            legal[t, _E] = True
        else:
            legal[t, [edge[0] for edge in _REBER_EDGES[state]]] = True
            state = dict(_REBER_EDGES[state])[string[t + 1]]
    legal[-2, string[1]] = True  # the long-lag step: repeat the branch taken at the start
    legal[-1, _E] = True
    return legal


def embedded_reber(
    n: int, rng: np.random.Generator, exclude: set[tuple[int, ...]] | None = None
) -> SequenceBatch:
    """Embedded Reber strings for next-symbol prediction (the paper's experiment 1).

    Inputs are each string but its last symbol, one-hot over ``REBER_SYMBOLS``; the target
    at step t is the set of symbols the grammar allows after the prefix ending at t. The
    only long-lag step is the second-to-last symbol, which must repeat the second one.

    Args:
        n: number of strings.
        rng: source of randomness.
        exclude: strings (tuples of symbol indices) that must not be drawn; the paper keeps
            training strings out of the test set.

    Returns:
        A ``SequenceBatch`` with targets (n, L, 7) bool.
    """
    _check_count(n)
    strings: list[list[int]] = []
    while len(strings) < n:
        string = _reber_string(rng)
        if exclude is None or tuple(string) not in exclude:
            strings.append(string)
    width = max(len(s) for s in strings) - 1
    inputs = torch.zeros(n, width, 7)
    targets = torch.zeros(n, width, 7, dtype=torch.bool)
    for k, string in enumerate(strings):
        steps = len(string) - 1
        inputs[k, :steps] = _one_hot(np.array(string[:-1]), 7)
        targets[k, :steps] = torch.from_numpy(_legal_next(string))
    lengths = torch.tensor([len(s) - 1 for s in strings])
    return SequenceBatch(inputs, lengths, targets)


def reber_strings(batch: SequenceBatch) -> set[tuple[int, ...]]:
    """The symbol-index tuples of a Reber batch's full strings (to exclude from a test set)."""
    symbols = batch.inputs.argmax(-1)
    out = set()
    for k, length in enumerate(batch.lengths.tolist()):
        prefix = symbols[k, :length].tolist()
        out.add((*prefix, _E))
    return out


# --- Experiment 2a: noise-free sequences with long time lags ----------------------------


def long_lag(
    n: int, rng: np.random.Generator, p: int = 100, *, balanced: bool = False
) -> SequenceBatch:
    """The two sequences (y, a1..a_{p-1}, y) and (x, a1..a_{p-1}, x), each with probability 1/2.

    Symbols are one-hot over p + 1 units: a1..a_{p-1} are units 0..p-2, x is p-1, y is p.
    The network sees each sequence but its last symbol and predicts the next symbol at every
    step; only the last prediction needs the first symbol, p steps back (experiment 2a).

    Args:
        n: number of sequences.
        rng: source of randomness.
        p: the time lag; sequences have p + 1 symbols.
        balanced: draw x and y equally often within the batch (n even, shuffled order)
            rather than independently; each is still chosen with probability 1/2.

    Returns:
        A ``SequenceBatch`` with inputs (n, p, p + 1) and targets (n, p) int64.
    """
    _check_count(n)
    if not isinstance(p, int) or p < 2:
        raise ValueError(f"p must be an int >= 2 (the time lag), got {p!r}")
    if balanced and n % 2:
        raise ValueError(f"a balanced long-lag batch needs an even size, got {n}")
    is_x = rng.permutation(np.arange(n) % 2 == 0) if balanced else rng.random(n) < 0.5
    first = np.where(is_x, p - 1, p)
    middle = np.broadcast_to(np.arange(p - 1), (n, p - 1))
    strings = np.concatenate([first[:, None], middle, first[:, None]], axis=1)  # (n, p + 1)
    inputs = _one_hot(strings[:, :-1], p + 1)
    targets = torch.from_numpy(strings[:, 1:]).long()
    return SequenceBatch(inputs, torch.full((n,), p), targets)


# --- Experiment 4: the adding problem ----------------------------------------------------


def adding_problem(n: int, rng: np.random.Generator, T: int = 100) -> SequenceBatch:
    """Sequences of (value, marker) pairs whose target is 0.5 + (X1 + X2) / 4 (experiment 4).

    Lengths are uniform in [T, T + T // 10]. Values are uniform in [-1, 1]. One marked pair
    (marker 1.0) is among the first 10, the other among the first T/2 - 1 still unmarked
    pairs; the first and last pairs carry marker -1 unless marked, all others 0. A marked
    first pair has its value set to zero, as in the paper.

    Args:
        n: number of sequences.
        rng: source of randomness.
        T: minimal sequence length, at least 10 (the paper uses 100, 500 and 1000).

    Returns:
        A ``SequenceBatch`` with inputs (n, L, 2) and targets (n,) float32.
    """
    _check_count(n)
    if not isinstance(T, int) or isinstance(T, bool) or T < 10:
        raise ValueError(f"T must be an int >= 10 for the adding problem, got {T!r}")
    lengths = rng.integers(T, T + T // 10 + 1, size=n)
    width = int(lengths.max())
    values = rng.uniform(-1.0, 1.0, size=(n, width))
    markers = np.zeros((n, width))
    rows = np.arange(n)
    markers[:, 0] = -1.0
    markers[rows, lengths - 1] = -1.0
    first = rng.integers(0, 10, size=n)
    # Uniform over the first T/2 - 1 positions except `first`: draw from one fewer and skip
    # it (for T < 22 `first` may lie beyond that range and then nothing is skipped).
    span = T // 2 - 1
    inside = first < span
    second = (rng.random(n) * (span - inside)).astype(np.int64)
    second += inside & (second >= first)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    values[:, 0] = np.where(markers[:, 0] == 1.0, 0.0, values[:, 0])
    values[np.arange(width)[None, :] >= lengths[:, None]] = 0.0
    markers[np.arange(width)[None, :] >= lengths[:, None]] = 0.0
    target = 0.5 + (values[rows, first] + values[rows, second]) / 4.0
    inputs = torch.from_numpy(np.stack([values, markers], axis=-1)).float()
    return SequenceBatch(inputs, torch.from_numpy(lengths), torch.from_numpy(target).float())


# --- Experiment 6a: temporal order, two relevant symbols --------------------------------


def temporal_order(n: int, rng: np.random.Generator) -> SequenceBatch:
    """Classify by the order of X and Y at t1 in [10, 20] and t2 in [50, 60] (experiment 6a).

    A sequence of length 100..110 starts with E, ends with the trigger B, and holds random
    symbols from {a, b, c, d} except at t1 and t2 (steps counted from 0 at the E), which
    hold X or Y. Classes: XX -> Q (0), XY -> R (1), YX -> S (2), YY -> U (3). Symbols are
    one-hot over ``TEMPORAL_ORDER_SYMBOLS``.

    Args:
        n: number of sequences.
        rng: source of randomness.

    Returns:
        A ``SequenceBatch`` with inputs (n, L, 8) and targets (n,) int64 in 0..3.
    """
    _check_count(n)
    lengths = rng.integers(100, 111, size=n)
    width = int(lengths.max())
    rows = np.arange(n)
    symbols = rng.integers(0, 4, size=(n, width))  # a, b, c, d
    t1, t2 = rng.integers(10, 21, size=n), rng.integers(50, 61, size=n)
    first_y, second_y = rng.random(n) < 0.5, rng.random(n) < 0.5
    symbols[rows, t1] = np.where(first_y, 5, 4)
    symbols[rows, t2] = np.where(second_y, 5, 4)
    symbols[:, 0] = 6
    symbols[rows, lengths - 1] = 7
    inputs = _one_hot(symbols, 8)
    inputs[torch.arange(width)[None, :] >= torch.from_numpy(lengths)[:, None]] = 0.0
    classes = 2 * first_y.astype(np.int64) + second_y.astype(np.int64)
    return SequenceBatch(inputs, torch.from_numpy(lengths), torch.from_numpy(classes))
