"""Sequence-labelling metrics: token accuracy, and entity spans with precision, recall and F1.

Entities are read from label sequences by the rules of CoNLL's ``conlleval`` script, which
cover IOB1, IOB2 (BIO) and BIOES alike: a chunk starts at B- or S-, at an I- or E- that
does not continue an open chunk (after O, E- or S-), and wherever the type changes; it ends
before B-, S- or O, after E- or S-, and wherever the type changes. An entity counts as
found only when its type, first and last token all match (exact match, micro-averaged
over all entities of all sentences).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["entity_report", "entity_spans", "format_entity_report", "split_label", "token_accuracy"]

Span = tuple[str, int, int]  # (type, first token, last token), inclusive as in conlleval
_PREFIXES = ("B", "I", "E", "S")


def split_label(label: str) -> tuple[str, str]:
    """("O", "") for "O", else (prefix, type) of "B-PER" and the like.

    Raises:
        ValueError: for a label that is neither "O" nor B/I/E/S-TYPE.
    """
    if label == "O":
        return "O", ""
    prefix, dash, kind = label.partition("-")
    if not dash or not kind or prefix not in _PREFIXES:
        raise ValueError(
            f"label {label!r} is neither 'O' nor B-, I-, E- or S- followed by a type; "
            "entity scores need chunk labels such as B-PER"
        )
    return prefix, kind


def entity_spans(labels: Sequence[str]) -> list[Span]:
    """The entities of one sentence's labels, by conlleval's rules.

    Args:
        labels: one label per token ("O", "B-PER", "I-PER", "E-PER", "S-PER", ...).

    Returns:
        ``(type, first, last)`` per entity, in order; token positions are inclusive.

    >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "S-ORG"])
    [('PER', 0, 1), ('LOC', 3, 3), ('LOC', 4, 4), ('ORG', 5, 5)]
    """
    spans: list[Span] = []
    prev, prev_kind, first = "O", "", 0
    for i, label in enumerate([*labels, "O"]):  # the trailing O closes a final chunk
        tag, kind = split_label(label)
        if _ends(prev, tag, prev_kind, kind):
            spans.append((prev_kind, first, i - 1))
        if _starts(prev, tag, prev_kind, kind):
            first = i
        prev, prev_kind = tag, kind
    return spans


def _starts(prev: str, tag: str, prev_kind: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if tag in ("I", "E") and prev in ("O", "E", "S"):  # nothing open to continue
        return True
    return tag != "O" and kind != prev_kind


def _ends(prev: str, tag: str, prev_kind: str, kind: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev != "O" and kind != prev_kind


def _check_pairs(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but the predictions have {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(
                f"sentence {i} has {len(g)} gold labels but {len(p)} predicted; predictions "
                "must align token by token"
            )


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose predicted label equals the gold one, over all sentences."""
    _check_pairs(gold, pred)
    total = sum(len(g) for g in gold)
    if total == 0:
        raise ValueError("cannot score an empty set of sentences")
    right = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return right / total


def _prf(correct: int, found: int, support: int) -> dict[str, float]:
    precision = correct / found if found else 0.0
    recall = correct / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_report(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1, micro over all entities and per type.

    Args:
        gold: the true labels, one sequence per sentence.
        pred: the predicted labels, aligned with ``gold``.

    Returns:
        ``{"precision", "recall", "f1", "found", "correct", "support", "token_accuracy",
        "per_type": {type: {"precision", "recall", "f1", "found", "correct", "support"}}}``;
        ratios in [0, 1], 0 where their denominator is 0.
    """
    _check_pairs(gold, pred)
    true: Counter[tuple[int, Span]] = Counter()
    guessed: Counter[tuple[int, Span]] = Counter()
    for i, (g, p) in enumerate(zip(gold, pred)):
        true.update((i, span) for span in entity_spans(g))
        guessed.update((i, span) for span in entity_spans(p))
    hits = true & guessed
    report: dict = _prf(sum(hits.values()), sum(guessed.values()), sum(true.values()))
    report.update(found=sum(guessed.values()), correct=sum(hits.values()))
    report.update(support=sum(true.values()), token_accuracy=token_accuracy(gold, pred))
    per_type = {}
    for kind in sorted({s[0] for _, s in true} | {s[0] for _, s in guessed}):
        counts = [sum(n for (_, s), n in c.items() if s[0] == kind) for c in (hits, guessed, true)]
        per_type[kind] = {**_prf(*counts), "found": counts[1], "correct": counts[0]}
        per_type[kind]["support"] = counts[2]
    report["per_type"] = per_type
    return report


def format_entity_report(report: dict) -> str:
    """The report as a small table: one line per type, then the micro average (percent)."""
    lines = [f"{'type':<16} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}"]
    rows = [*report["per_type"].items(), ("all (micro)", report)]
    for kind, r in rows:
        lines.append(
            f"{kind:<16} {100 * r['precision']:9.2f} {100 * r['recall']:7.2f} "
            f"{100 * r['f1']:6.2f} {r['support']:8d}"
        )
    return "\n".join(lines)
