"""Entity spans and scores against seqeval (conlleval's rules), on random and edge-case labels."""

from __future__ import annotations

import random

import pytest
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from lstmkit.metrics.tagging import (
    entity_report,
    entity_spans,
    format_entity_report,
    split_label,
    token_accuracy,
)

LABELS = {
    "bio": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"],
    "bioes": ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"],
}
EDGE_CASES = [
    [],
    ["O"],
    ["I-PER"],  # I- with nothing open starts an entity
    ["E-PER"],
    ["B-PER", "B-PER"],
    ["B-PER", "I-LOC"],  # a type change closes one and opens another
    ["I-PER", "I-PER", "B-PER", "I-PER"],  # IOB1: B- splits two adjacent chunks
    ["B-PER", "E-PER", "I-PER", "E-PER"],
    ["S-PER", "I-PER", "S-PER", "E-PER"],
    ["B-PER", "I-PER", "E-PER", "E-PER"],
    ["O", "I-LOC", "E-LOC", "O", "S-ORG"],
    ["B-PER", "I-PER"],  # an entity running to the end
    ["B-PER", "E-LOC", "S-LOC", "I-LOC"],
]


def random_sentences(rng: random.Random, labels: list[str], n: int) -> list[list[str]]:
    # Mostly O, as real data, so that entities are short and varied.
    weights = [6.0] + [1.0] * (len(labels) - 1)
    return [rng.choices(labels, weights, k=rng.randint(1, 12)) for _ in range(n)]


def seqeval_spans(labels: list[str]) -> list[tuple[str, int, int]]:
    return [tuple(s) for s in get_entities(list(labels))] if labels else []


@pytest.mark.parametrize("case", EDGE_CASES)
def test_spans_equal_seqeval_on_edge_cases(case):
    assert entity_spans(case) == seqeval_spans(case)


@pytest.mark.parametrize("scheme,seed", [("bio", 0), ("bioes", 1), ("bio", 2), ("bioes", 3)])
def test_spans_and_scores_equal_seqeval_on_random_sequences(scheme, seed):
    rng = random.Random(seed)
    gold = random_sentences(rng, LABELS[scheme], 300)
    for sentence in gold:
        assert entity_spans(sentence) == seqeval_spans(sentence)
    # Predictions: the gold with a quarter of the labels redrawn, so some entities match.
    pred = [[rng.choice(LABELS[scheme]) if rng.random() < 0.25 else y for y in s] for s in gold]
    report = entity_report(gold, pred)
    assert report["precision"] == pytest.approx(precision_score(gold, pred))
    assert report["recall"] == pytest.approx(recall_score(gold, pred))
    assert report["f1"] == pytest.approx(f1_score(gold, pred))
    assert 0.2 < report["f1"] < 0.95  # a test of partial overlap, not a trivial 0 or 1
    reference = classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, ours in report["per_type"].items():
        assert ours["f1"] == pytest.approx(reference[kind]["f1-score"])
        assert ours["precision"] == pytest.approx(reference[kind]["precision"])
        assert ours["support"] == reference[kind]["support"]


def test_scores_of_perfect_empty_and_disjoint_predictions():
    gold = [["B-PER", "I-PER", "O"], ["S-LOC"]]
    perfect = entity_report(gold, gold)
    assert (perfect["precision"], perfect["recall"], perfect["f1"]) == (1.0, 1.0, 1.0)
    assert perfect["support"] == 2 and perfect["token_accuracy"] == 1.0
    nothing = entity_report(gold, [["O", "O", "O"], ["O"]])
    assert (nothing["precision"], nothing["recall"], nothing["f1"]) == (0.0, 0.0, 0.0)
    assert f1_score(gold, [["O", "O", "O"], ["O"]], zero_division=0) == 0.0
    # A boundary off by one is a miss and a false alarm, not half a hit.
    shifted = entity_report([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])
    assert (shifted["precision"], shifted["recall"]) == (0.0, 0.0)
    assert "all (micro)" in format_entity_report(perfect)


def test_token_accuracy_and_bad_input():
    assert token_accuracy([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="sentence 1 has 1 gold labels but 2 predicted"):
        token_accuracy([["A"], ["B"]], [["A"], ["B", "C"]])
    with pytest.raises(ValueError, match="gold has 1 sentences but the predictions have 2"):
        entity_report([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="cannot score an empty set"):
        token_accuracy([[]], [[]])
    with pytest.raises(ValueError, match="label 'PER' is neither 'O' nor B-, I-, E- or S-"):
        entity_spans(["O", "PER"])
    assert split_label("B-creative-work") == ("B", "creative-work")
