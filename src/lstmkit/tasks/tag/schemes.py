"""Chunk tag schemes (IOB1, BIO/IOB2, BIOES) and conversions between them through spans.

Every scheme's labels are read into entity spans by conlleval's rules
(`lstmkit.metrics.tagging.entity_spans`), which parse all three, and spans are written back
in any scheme. The tagger learns one internal scheme, BIOES (it marks both ends of every
entity: Ratinov & Roth 2009 found it better than BIO for NER), and writes predictions in
the scheme its training file used.
"""

from __future__ import annotations

from collections.abc import Sequence

from lstmkit.metrics.tagging import entity_spans, split_label

__all__ = ["INTERNAL", "SCHEMES", "convert", "detect_scheme", "spans_to_labels"]

SCHEMES = ("none", "iob1", "bio", "bioes")  # "none": tags without chunks (parts of speech)
INTERNAL = "bioes"


def spans_to_labels(spans: Sequence[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """Labels of ``length`` tokens holding ``spans`` ((type, first, last), inclusive).

    In "iob1" a chunk opens with I- unless the token before ends a chunk of the same
    type, where B- marks the boundary; "bio" opens every chunk with B-; "bioes" marks
    single-token chunks S- and the last token of longer ones E-.
    """
    if scheme not in SCHEMES[1:]:
        raise ValueError(f"scheme must be one of {SCHEMES[1:]}, got {scheme!r}")
    labels = ["O"] * length
    previous_end: dict[str, int] = {}
    for kind, first, last in spans:
        if not 0 <= first <= last < length:
            raise ValueError(f"span {(kind, first, last)} does not fit {length} tokens")
        for i in range(first, last + 1):
            labels[i] = f"I-{kind}"
        if scheme == "bio":
            labels[first] = f"B-{kind}"
        elif scheme == "iob1":
            if previous_end.get(kind) == first - 1:
                labels[first] = f"B-{kind}"
        else:
            labels[first] = f"{'S' if first == last else 'B'}-{kind}"
            if last > first:
                labels[last] = f"E-{kind}"
        previous_end = {kind: last}
    return labels


def convert(labels: Sequence[str], scheme: str) -> list[str]:
    """One sentence's chunk labels (any scheme) rewritten in ``scheme``; "none" keeps them."""
    if scheme == "none":
        return list(labels)
    return spans_to_labels(entity_spans(labels), len(labels), scheme)


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """The scheme a labelled file is written in.

    "none" unless every label is "O" or B/I/E/S-TYPE; then "bioes" if any E- or S-
    appears, "iob1" if some chunk opens with I- (and no B- opens one after O), else "bio".
    """
    prefixes: set[str] = set()
    opens_with_i = opens_with_b_after_o = False
    for labels in sentences:
        previous = ("O", "")
        for label in labels:
            try:
                tag, kind = split_label(label)
            except ValueError:
                return "none"
            prefixes.add(tag)
            continues = previous[0] in ("B", "I") and previous[1] == kind
            opens_with_i |= tag == "I" and not continues
            opens_with_b_after_o |= tag == "B" and previous[0] == "O"
            previous = (tag, kind)
    if prefixes <= {"O"}:
        return "none"  # nothing marks a chunk: treat the tags as plain classes
    if prefixes & {"E", "S"}:
        return "bioes"
    return "iob1" if opens_with_i and not opens_with_b_after_o else "bio"
