"""G2P's WER/PER on hand-made cases and against brute force; BLEU/chrF equal sacrebleu's."""

import functools
import random

import pytest
import sacrebleu

from lstmkit.metrics.translation import (
    bleu,
    chrf,
    closest_reference,
    edit_distance,
    g2p_scores,
    sequence_error_rate,
    token_error_rate,
)


def _levenshtein(a, b):
    """The textbook recursion, memoised: an oracle independent of the row-by-row table."""

    @functools.cache
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_edit_distance_on_known_cases_and_against_the_recursion():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance([], ["AH", "B"]) == 2
    assert edit_distance(["K", "AE", "T"], ["K", "AE", "T"]) == 0
    assert edit_distance(["K", "AE", "T"], ["K", "AH", "T", "S"]) == 2
    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice("abc") for _ in range(rng.randint(0, 7))]
        b = [rng.choice("abc") for _ in range(rng.randint(0, 7))]
        assert edit_distance(a, b) == _levenshtein(tuple(a), tuple(b)) == edit_distance(b, a)


def test_wer_and_per_by_hand():
    hyps = [["K", "AE", "T"], ["D", "AA", "G"], ["R", "IY", "D"], ["T", "UW"]]
    refs = [
        [["K", "AE", "T"]],  # right
        [["D", "AO", "G"], ["D", "AA", "G"]],  # right: the second pronunciation
        [["R", "EH", "D"], ["R", "IY", "D", "Z"]],  # 1 edit to either; the first (3 long)
        [["T", "UW", "Z", "D"]],  # 2 deletions, reference of 4
    ]
    assert sequence_error_rate(hyps, refs) == 0.5
    assert closest_reference(hyps[2], refs[2]) == (1, 3)
    assert token_error_rate(hyps, refs) == pytest.approx((0 + 0 + 1 + 2) / (3 + 3 + 3 + 4))
    assert g2p_scores(hyps, refs) == {"wer": 0.5, "per": pytest.approx(3 / 13)}


def test_metrics_refuse_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="got 1 hypotheses but 2 reference lists"):
        sequence_error_rate([["A"]], [[["A"]], [["B"]]])
    with pytest.raises(ValueError, match="no hypotheses"):
        token_error_rate([], [])
    with pytest.raises(ValueError, match="at least one reference"):
        token_error_rate([["A"]], [[]])


CORPUS = [
    "the cat sat on the mat",
    "a quick brown fox jumps over the lazy dog",
    "it is raining today",
    "we will meet at noon near the station",
]
REFERENCES = [
    ["the cat is sitting on the mat", "a cat sat on the mat"],
    ["the quick brown fox jumped over the lazy dog"],
    ["it rains today", "today it is raining"],
    ["we meet at noon by the station"],
]


def test_bleu_and_chrf_equal_sacrebleu_with_a_variable_number_of_references():
    streams = [[r[0] for r in REFERENCES], [r[1] if len(r) > 1 else None for r in REFERENCES]]
    score, signature = bleu(CORPUS, REFERENCES)
    assert score == pytest.approx(sacrebleu.corpus_bleu(CORPUS, streams).score, abs=1e-12)
    assert signature.startswith("nrefs:var|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    score, signature = chrf(CORPUS, REFERENCES)
    assert score == pytest.approx(sacrebleu.corpus_chrf(CORPUS, streams).score, abs=1e-12)
    assert "nc:6" in signature
    single = [[r[0]] for r in REFERENCES]
    expected = sacrebleu.corpus_bleu(CORPUS, [[r[0] for r in REFERENCES]]).score
    assert bleu(CORPUS, single)[0] == pytest.approx(expected, abs=1e-12)
    assert bleu(CORPUS, [[c] for c in CORPUS])[0] == pytest.approx(100.0)
