"""Parallel data for sequence to sequence: items with references, TSV reading, tokens, batches."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lstmkit.data.batching import bucket_batches, pad_sequences

__all__ = [
    "SPECIALS",
    "TOKENS",
    "PairBatches",
    "ParallelData",
    "Vocabulary",
    "detokenize",
    "read_tsv",
    "split_items",
    "tokenize",
    "train_valid_test",
    "write_tsv",
]

TOKENS = ("char", "word")
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")  # ids 0..3: padding, unknown, start, end
PAD, UNK, BOS, EOS = range(4)


def tokenize(text: str, tokens: str) -> list[str]:
    """ "char": every character (spaces too); "word": the whitespace-separated words."""
    if tokens == "char":
        return list(text)
    if tokens == "word":
        return text.split()
    raise ValueError(f"tokens must be 'char' or 'word', got {tokens!r}")


def detokenize(pieces: Sequence[str], tokens: str) -> str:
    """The text of tokens: joined directly ("char") or with single spaces ("word")."""
    return ("" if tokens == "char" else " ").join(pieces)


@dataclass
class ParallelData:
    """Source items, each with one or more reference outputs (a word's pronunciations).

    Attributes:
        sources: one text per item, unique.
        references: per item, its distinct reference texts (at least one).
        name: where it came from, for messages and the run directory.

    >>> data = ParallelData(["ab", "c"], [["x y"], ["z", "w"]], "toy")
    >>> data.pairs()
    [('ab', 'x y'), ('c', 'z'), ('c', 'w')]
    """

    sources: list[str]
    references: list[list[str]]
    name: str = "data"

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.references):
            raise ValueError(
                f"got {len(self.sources)} sources but {len(self.references)} reference lists"
            )
        for i, refs in enumerate(self.references):
            if not refs:
                raise ValueError(f"item {i} ({self.sources[i]!r}) has no reference output")

    def __len__(self) -> int:
        return len(self.sources)

    def pairs(self) -> list[tuple[str, str]]:
        """Every (source, reference) pair: what training sees."""
        return [(s, r) for s, refs in zip(self.sources, self.references) for r in refs]

    def subset(self, index: Iterable[int], name: str | None = None) -> ParallelData:
        """The items at ``index``, in that order (sharing their reference lists)."""
        index = list(index)
        references = [self.references[i] for i in index]
        return ParallelData([self.sources[i] for i in index], references, name or self.name)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], name: str = "data") -> ParallelData:
        """Group pairs by source (first-seen order); repeated references are kept once."""
        grouped: dict[str, list[str]] = {}
        for source, target in pairs:
            refs = grouped.setdefault(source, [])
            if target not in refs:
                refs.append(target)
        return cls(list(grouped), list(grouped.values()), name)


def split_items(
    data: ParallelData, fraction: float, seed: int
) -> tuple[ParallelData, ParallelData]:
    """A seeded random split by item: (the rest, ``fraction`` of the items), order kept.

    All references of an item fall on the same side, so no source is seen on both.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"a split fraction must lie in (0, 1), got {fraction}")
    n = len(data)
    held = round(n * fraction)
    if held < 1 or held >= n:
        raise ValueError(
            f"{data.name} has {n} distinct source(s): too few to hold out {fraction:.0%}; "
            "give more pairs or separate --valid/--test files"
        )
    order = np.random.default_rng(seed).permutation(n)
    out = np.zeros(n, dtype=bool)
    out[order[:held]] = True
    return data.subset(np.flatnonzero(~out).tolist()), data.subset(np.flatnonzero(out).tolist())


def train_valid_test(
    data: ParallelData, seed: int, test_fraction: float = 0.1, valid_fraction: float = 0.1
) -> tuple[ParallelData, ParallelData, ParallelData]:
    """Seeded (train, validation, test) by item: the test share first, then the validation
    share of the rest (0.1 and 0.1: 81/9/10% of the items). Each part is named after it."""
    rest, test = split_items(data, test_fraction, seed)
    train, valid = split_items(rest, valid_fraction, seed + 1)
    return (
        dataclasses.replace(train, name=f"{data.name}-train"),
        dataclasses.replace(valid, name=f"{data.name}-valid"),
        dataclasses.replace(test, name=f"{data.name}-test"),
    )


def write_tsv(data: ParallelData) -> bytes:
    """Every (source, reference) pair as a line of UTF-8 TSV, what `read_tsv` reads back."""
    return "".join(f"{s}\t{r}\n" for s, r in data.pairs()).encode("utf-8")


def _column(frame: pd.DataFrame, col: str | int, path: Path, what: str) -> pd.Series:
    if isinstance(col, int) or str(col).isdigit():
        k = int(col)
        if k >= frame.shape[1]:
            raise ValueError(
                f"{path} has {frame.shape[1]} tab-separated column(s); {what} column {k} "
                f"(counted from 0) does not exist: pick it with --{what}-col"
            )
        return frame.iloc[:, k]
    if col not in frame.columns:
        raise ValueError(
            f"{path} has no column {col!r} ({what}); its header names {list(frame.columns)}"
        )
    return frame[col]


def read_tsv(
    path: str | Path, source_col: str | int = 0, target_col: str | int = 1
) -> ParallelData:
    """One pair per line, tab-separated; columns by 0-based number, or by header name.

    With column numbers the file has no header line; with names its first line is the
    header. Quotes are not special. Lines with an empty source or target are refused.

    Returns:
        The pairs grouped by source (`ParallelData.from_pairs`), named after the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"TSV file {str(path)!r} is a directory, not a file: give a file of "
            "source<TAB>target lines"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"no TSV file {str(path)!r}: give a file of source<TAB>target lines"
        )
    named = not (str(source_col).isdigit() and str(target_col).isdigit())
    try:
        frame = pd.read_csv(
            path,
            sep="\t",
            header=0 if named else None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
        )
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; it needs source<TAB>target lines") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable tab-separated UTF-8 file: {exc}") from None
    src = _column(frame, source_col, path, "source").str.strip()
    tgt = _column(frame, target_col, path, "target").str.strip()
    first = 2 if named else 1
    for what, col in (("source", src), ("target", tgt)):
        empty = np.flatnonzero((col == "").to_numpy())
        if len(empty):
            raise ValueError(
                f"{path} line {int(empty[0]) + first} has an empty {what}; every "
                "line needs both a source and a target"
            )
    if len(src) == 0:
        raise ValueError(f"{path} holds no pairs")
    return ParallelData.from_pairs(zip(src, tgt), path.stem)


class Vocabulary:
    """Token <-> id, with <pad>, <unk>, <s>, </s> as ids 0-3; unknown tokens map to <unk>.

    >>> vocab = Vocabulary.build([["a", "b"], ["b"]])
    >>> vocab.encode(["b", "z"]), vocab.decode([5, 1])
    ([5, 1], ['b', '<unk>'])
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}, got {list(tokens[:4])}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times, most frequent first (ties: by token)."""
        counts = Counter(t for seq in sequences for t in seq)
        kept = sorted(
            (t for t, n in counts.items() if n >= min_freq and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, pieces: Sequence[str]) -> list[int]:
        """Ids of tokens (unknown ones: <unk>)."""
        return [self.index.get(t, UNK) for t in pieces]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ids, leaving out padding and start/end tokens."""
        return [self.tokens[i] for i in ids if i not in (PAD, BOS, EOS)]


class PairBatches:
    """(source, target) id sequences as padded batches bucketed by source length.

    Each pass yields ``(src, src_lengths, tgt_in, tgt_out)``: src (B, S) padded with 0,
    tgt_in = <s> y_1 .. y_n and tgt_out = y_1 .. y_n </s>, both (B, T) padded with 0. With
    ``shuffle`` each pass draws a new bucketing from torch's global RNG, which the training
    loop seeds and checkpoints.
    """

    def __init__(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        batch_size: int,
        *,
        shuffle: bool = True,
    ) -> None:
        if len(sources) != len(targets):
            raise ValueError(f"got {len(sources)} sources but {len(targets)} targets")
        if not sources:
            raise ValueError("no pairs to batch")
        self.sources = [torch.tensor(s, dtype=torch.long) for s in sources]
        self.targets = [torch.tensor(t, dtype=torch.long) for t in targets]
        self.batch_size, self.shuffle = batch_size, shuffle

    def __len__(self) -> int:
        return -(-len(self.sources) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        lengths = [len(s) for s in self.sources]
        for idx in bucket_batches(lengths, self.batch_size, shuffle=self.shuffle):
            src, src_lengths = pad_sequences([self.sources[i] for i in idx])
            tgt_in, _ = pad_sequences(
                [torch.cat([torch.tensor([BOS]), self.targets[i]]) for i in idx]
            )
            tgt_out, _ = pad_sequences(
                [torch.cat([self.targets[i], torch.tensor([EOS])]) for i in idx]
            )
            yield src, src_lengths, tgt_in, tgt_out
