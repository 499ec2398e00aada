"""Metrics of sequence-to-sequence outputs: G2P's word and phoneme error rates, BLEU and chrF.

Every function takes one hypothesis per item and a list of references per item (a word
can have several pronunciations, a sentence several translations).

- `sequence_error_rate` is G2P's **WER**: the share of items whose output equals none of
  its references (for G2P an item is a word, hence the name; it is not ASR's WER).
- `token_error_rate` is G2P's **PER**: the edit distance (insertions, deletions and
  substitutions of tokens) to the closest reference, divided by that reference's length,
  summed over items before dividing; for character outputs it is the character error rate.
- `bleu` and `chrf` are sacrebleu's corpus scores with its default settings, returned
  with sacrebleu's signature so that the figures can be compared across papers.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

__all__ = [
    "bleu",
    "chrf",
    "closest_reference",
    "edit_distance",
    "g2p_scores",
    "sequence_error_rate",
    "token_error_rate",
]

Tokens = Sequence[Hashable]


def edit_distance(a: Tokens, b: Tokens) -> int:
    """Levenshtein distance between two token sequences (unit costs).

    >>> edit_distance("kitten", "sitting")
    3
    """
    previous = list(range(len(b) + 1))  # row i-1 of the table: distances from a[:i-1]
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def closest_reference(hypothesis: Tokens, references: Sequence[Tokens]) -> tuple[int, int]:
    """(edit distance, length) of the reference nearest the hypothesis; ties: the first."""
    if not references:
        raise ValueError("every item needs at least one reference")
    return min(((edit_distance(hypothesis, r), len(r)) for r in references), key=lambda p: p[0])


def _check(hypotheses: Sequence[Any], references: Sequence[Sequence[Any]]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} reference lists")
    if not hypotheses:
        raise ValueError("no hypotheses to score")


def sequence_error_rate(
    hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]
) -> float:
    """Share of items whose hypothesis equals none of their references (G2P's WER), in [0, 1]."""
    _check(hypotheses, references)
    wrong = sum(list(h) not in [list(r) for r in refs] for h, refs in zip(hypotheses, references))
    return wrong / len(hypotheses)


def token_error_rate(hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]) -> float:
    """Summed edit distances to the closest references / their summed lengths (G2P's PER)."""
    _check(hypotheses, references)
    edits = length = 0
    for h, refs in zip(hypotheses, references):
        d, n = closest_reference(h, refs)
        edits, length = edits + d, length + n
    if length == 0:
        raise ValueError("the closest references are all empty; PER is undefined")
    return edits / length


def g2p_scores(
    hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]]
) -> dict[str, float]:
    """{"wer": sequence_error_rate, "per": token_error_rate}, as fractions."""
    return {
        "wer": sequence_error_rate(hypotheses, references),
        "per": token_error_rate(hypotheses, references),
    }


def _streams(references: Sequence[Sequence[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference slot; None where an item has fewer."""
    if any(not refs for refs in references):
        raise ValueError("every item needs at least one reference")
    width = max(len(refs) for refs in references)
    return [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]


def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[float, str]:
    """sacrebleu's corpus BLEU (default 13a tokenisation, exp smoothing) and its signature.

    Args:
        hypotheses: detokenised output strings.
        references: per item, one or more reference strings.

    Returns:
        (BLEU in 0-100, sacrebleu's signature string).
    """
    from sacrebleu.metrics import BLEU

    _check(hypotheses, references)
    metric = BLEU()
    score = metric.corpus_score(list(hypotheses), _streams(references))
    return float(score.score), str(metric.get_signature())


def chrf(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[float, str]:
    """sacrebleu's corpus chrF (character 6-grams, beta 2) and its signature; see `bleu`."""
    from sacrebleu.metrics import CHRF

    _check(hypotheses, references)
    metric = CHRF()
    score = metric.corpus_score(list(hypotheses), _streams(references))
    return float(score.score), str(metric.get_signature())
