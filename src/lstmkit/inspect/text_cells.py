"""Find the cell that tracks a simple property of the text (Karpathy et al. 2015, section 4.2).

Each feature gives one number per character of a passage: its position in the line, whether
it sits inside quotes or brackets, and so on (word tokens get word features instead). The
cell whose activation over the passage has the largest absolute Pearson correlation with a
feature is the one drawn over the text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURES", "WORD_FEATURES", "CellMatch", "best_cell", "feature_set"]


def _position_in_line(chars: Sequence[str]) -> np.ndarray:
    out, pos = np.zeros(len(chars)), 0
    for t, ch in enumerate(chars):
        out[t] = pos
        pos = 0 if ch == "\n" else pos + 1
    return out


def _inside(opening: str, closing: str) -> Callable[[Sequence[str]], np.ndarray]:
    def feature(chars: Sequence[str]) -> np.ndarray:
        out, depth = np.zeros(len(chars)), 0
        for t, ch in enumerate(chars):
            if opening == closing and ch == opening:
                depth = 1 - depth  # a quote toggles
            elif ch == opening:
                depth += 1
            elif ch == closing:
                depth = max(0, depth - 1)
            out[t] = float(depth > 0)
        return out

    return feature


def _position_in_word(chars: Sequence[str]) -> np.ndarray:
    out, pos = np.zeros(len(chars)), 0
    for t, ch in enumerate(chars):
        pos = pos + 1 if ch.isalnum() else 0
        out[t] = pos
    return out


FEATURES: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "position in line": _position_in_line,
    "inside quotes": _inside('"', '"'),
    "inside brackets": _inside("(", ")"),
    "position in word": _position_in_word,
    "upper case": lambda chars: np.array([float(c.isupper()) for c in chars]),
}


# For word (or item) tokens: where the token sits and what it looks like.
WORD_FEATURES: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "position in sequence": lambda words: np.arange(len(words), dtype=float),
    "capitalised": lambda words: np.array([float(w[:1].isupper()) for w in words]),
    "punctuation": lambda words: np.array([float(not any(c.isalnum() for c in w)) for w in words]),
    "token length": lambda words: np.array([float(len(w)) for w in words]),
}


def feature_set(char_level: bool) -> dict[str, Callable[[Sequence[str]], np.ndarray]]:
    """`FEATURES` for characters, `WORD_FEATURES` for word or item tokens."""
    return FEATURES if char_level else WORD_FEATURES


@dataclass(frozen=True)
class CellMatch:
    """The unit found (or chosen) and how well it follows the feature."""

    unit: int
    feature: str  # "" when the unit was chosen by hand
    correlation: float  # Pearson r with the feature (nan when chosen by hand)


def best_cell(
    activations: np.ndarray,
    chars: Sequence[str],
    feature: str | None = None,
    *,
    char_level: bool = True,
) -> CellMatch:
    """The unit of ``activations`` (T, H) most correlated with a feature of ``chars`` (T).

    Args:
        activations: one layer's cell (or hidden) values over the passage.
        chars: the passage's tokens, one per step.
        feature: a name from `FEATURES` (`WORD_FEATURES` for word tokens); None tries
            them all and keeps the best.
        char_level: the tokens are characters.

    Returns:
        The unit, the feature and the correlation (signed).
    """
    if len(chars) != len(activations):
        raise ValueError(f"{len(chars)} characters but {len(activations)} steps of activations")
    features = feature_set(char_level)
    names = [feature] if feature else list(features)
    unknown = [n for n in names if n not in features]
    if unknown:
        raise ValueError(f"--feature must be one of {', '.join(features)}; got {unknown[0]!r}")
    a = activations - activations.mean(0)
    a_norm = np.sqrt((a**2).sum(0))
    best = CellMatch(0, names[0], 0.0)
    for name in names:
        v = features[name](chars)
        v = v - v.mean()
        v_norm = np.sqrt((v**2).sum())
        if v_norm == 0:
            continue  # the feature is constant over this passage: nothing to follow
        r = (a * v[:, None]).sum(0) / np.where(a_norm > 0, a_norm * v_norm, np.inf)
        unit = int(np.argmax(np.abs(r)))
        if abs(r[unit]) > abs(best.correlation):
            best = CellMatch(unit, name, float(r[unit]))
    return best
