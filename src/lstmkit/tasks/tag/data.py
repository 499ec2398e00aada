"""From tagged sentences to tensors: vocabularies, encoded sentences and padded batches.

A batch holds each sentence's word ids and, once per distinct word form in the batch, its
characters, so the character BiLSTM runs on each form once however often it occurs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from lstmkit.data.batching import bucket_batches

__all__ = ["PAD", "UNK", "EncodedSentences", "TagBatch", "Vocab", "make_batches"]

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1 of the word and character vocabularies


class TagBatch(NamedTuple):
    """Padded tensors of B sentences of at most T words, built from W distinct word forms.

    words (B, T) ids, 0 past each length; lengths (B,); chars (W, L) character ids of the
    distinct forms and char_lengths (W,); word_chars (B, T): each word's row in chars;
    tags (B, T) tag ids (0 past the lengths) or None; features (B, T, F) extra per-word
    features (contextual string embeddings) or None; index (B,): the sentences' positions;
    stand_in: True for a data-parallel rank's stand-in share that trains nothing (`shard`).
    """

    words: Tensor
    lengths: Tensor
    chars: Tensor
    char_lengths: Tensor
    word_chars: Tensor
    tags: Tensor | None
    features: Tensor | None
    index: Tensor
    stand_in: bool = False

    def select(self, rows: Tensor) -> TagBatch:
        """The batch of the sentences at ``rows`` alone: padded to their longest, with the
        character rows of the forms they use (in id order) and ``word_chars`` pointing there."""
        lengths = self.lengths[rows]
        steps = int(lengths.max())
        mask = torch.arange(steps)[None, :] < lengths[:, None]
        forms, inverse = torch.unique(self.word_chars[rows, :steps][mask], return_inverse=True)
        word_chars = torch.zeros(mask.shape, dtype=torch.long)
        word_chars[mask] = inverse
        char_lengths = self.char_lengths[forms]
        chars = self.chars[forms, : int(char_lengths.max())]

        def cut(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[rows, :steps]

        return TagBatch(cut(self.words), lengths, chars, char_lengths, word_chars,
                        cut(self.tags), cut(self.features), self.index[rows])  # fmt: skip

    def shard(self, rank: int, world: int) -> TagBatch:
        """Rank ``rank``'s share of ``world`` for data-parallel training (the Trainer's DDP):
        the ``rank``-th of near-equal blocks of sentences. A rank left without a sentence (a
        batch smaller than the ranks) gets the first one as a stand-in that weighs nothing,
        so that its backward pass still meets the others'."""
        rows = torch.tensor_split(torch.arange(len(self.lengths)), world)[rank]
        if len(rows) == 0:
            return self.select(torch.arange(1))._replace(stand_in=True)
        return self.select(rows)

    def loss_weight(self) -> float:
        """What the tagger's loss is a mean over: the batch's words (0 for a stand-in)."""
        return 0.0 if self.stand_in else float(self.lengths.sum())


@dataclass
class Vocab:
    """Word, character and tag inventories (id order), with each word's training count.

    Words are looked up lowercased when ``lowercase`` (the character features keep the
    case); ids 0 and 1 of words and characters are padding and unknown.
    """

    words: list[str]
    chars: list[str]
    tags: list[str]
    counts: list[int]
    lowercase: bool = True

    def __post_init__(self) -> None:
        self.word_ids = {w: i for i, w in enumerate(self.words)}
        self.char_ids = {c: i for i, c in enumerate(self.chars)}
        self.tag_ids = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def build(
        cls,
        sentences: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]],
        *,
        min_freq: int = 1,
        lowercase: bool = True,
        extra_words: Sequence[str] = (),
    ) -> Vocab:
        """Vocabularies of training sentences; ``extra_words`` (pretrained vectors') join."""
        fold = str.lower if lowercase else str
        words = Counter(fold(w) for s in sentences for w in s)
        chars = Counter(c for s in sentences for w in s for c in w)
        kept = sorted((w for w, n in words.items() if n >= min_freq), key=lambda w: -words[w])
        known = set(kept)
        kept += [w for w in dict.fromkeys(fold(w) for w in extra_words) if w not in known]
        tag_set = sorted({t for s in tags for t in s})
        return cls(
            [PAD, UNK, *kept],
            [PAD, UNK, *sorted(chars)],
            tag_set,
            [0, 0, *(words.get(w, 0) for w in kept)],
            lowercase,
        )

    def word_id(self, word: str) -> int:
        return self.word_ids.get(word.lower() if self.lowercase else word, 1)

    def to_dict(self) -> dict:
        return {"words": self.words, "chars": self.chars, "tags": self.tags,
                "counts": self.counts, "lowercase": self.lowercase}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        return cls(data["words"], data["chars"], data["tags"], data["counts"], data["lowercase"])


class EncodedSentences:
    """Sentences as id tensors, ready to batch.

    Args:
        vocab: the vocabularies.
        words: the sentences' word forms.
        tags: their tags (already in the model's scheme), or None.
        features: per-sentence (T_i, F) feature tensors, or None.
        max_chars: characters kept per word; a longer word keeps its first and last
            ``max_chars // 2`` (prefixes and suffixes carry what tags need).
    """

    def __init__(
        self,
        vocab: Vocab,
        words: Sequence[Sequence[str]],
        tags: Sequence[Sequence[str]] | None = None,
        features: Sequence[Tensor] | None = None,
        max_chars: int = 30,
    ) -> None:
        self.vocab, self.forms, self.max_chars = vocab, [list(s) for s in words], max_chars
        self.word_ids = [torch.tensor([vocab.word_id(w) for w in s]) for s in self.forms]
        self.tag_ids = None
        if tags is not None:
            unknown = sorted({t for s in tags for t in s} - set(vocab.tag_ids))
            if unknown:
                raise ValueError(
                    f"tags {unknown[:5]} never occur in the training data ({len(vocab.tags)} "
                    "tags); check the column and scheme, or train on data that has them"
                )
            self.tag_ids = [torch.tensor([vocab.tag_ids[t] for t in s]) for s in tags]
        self.features = None if features is None else list(features)
        self.lengths = [len(s) for s in self.forms]
        self._spellings: dict[str, Tensor] = {}

    def __len__(self) -> int:
        return len(self.forms)

    def char_ids(self, word: str) -> Tensor:
        """The character ids of ``word`` (at most ``max_chars``), computed once per form."""
        ids = self._spellings.get(word)
        if ids is None:
            half = self.max_chars // 2
            kept = word[:half] + word[-half:] if len(word) > self.max_chars else word
            ids = torch.tensor([self.vocab.char_ids.get(c, 1) for c in kept], dtype=torch.long)
            self._spellings[word] = ids
        return ids

    def batch(self, index: Sequence[int]) -> TagBatch:
        """The padded batch of the sentences at ``index``."""
        n, steps = len(index), max(self.lengths[i] for i in index)
        words = torch.zeros(n, steps, dtype=torch.long)
        word_chars = torch.zeros(n, steps, dtype=torch.long)
        tags = None if self.tag_ids is None else torch.zeros(n, steps, dtype=torch.long)
        rows: dict[str, int] = {}
        for b, i in enumerate(index):
            length = self.lengths[i]
            words[b, :length] = self.word_ids[i]
            word_chars[b, :length] = torch.tensor(
                [rows.setdefault(w, len(rows)) for w in self.forms[i]]
            )
            if tags is not None:
                tags[b, :length] = self.tag_ids[i]
        spelled = [self.char_ids(w) for w in rows]  # dicts keep insertion order
        char_lengths = torch.tensor([len(c) for c in spelled])
        chars = pad_sequence(spelled, batch_first=True)
        features = None
        if self.features is not None:
            width = self.features[index[0]].shape[1]
            features = torch.zeros(n, steps, width)
            for b, i in enumerate(index):
                features[b, : self.lengths[i]] = self.features[i].float()
        lengths = torch.tensor([self.lengths[i] for i in index])
        return TagBatch(
            words, lengths, chars, char_lengths, word_chars, tags, features, torch.tensor(index)
        )


def make_batches(
    data: EncodedSentences, batch_size: int, *, shuffle: bool, tokens: int | None = None
) -> list[TagBatch]:
    """Length-bucketed batches of ``data`` (a new draw from torch's RNG when shuffling).

    Args:
        batch_size: sentences per batch.
        tokens: if given, cap each batch at about this many words instead (long sentences
            come fewer to a batch), so inference on long inputs stays within memory.
    """
    groups = bucket_batches(data.lengths, batch_size, shuffle=shuffle)
    if tokens is not None:
        groups = [g for group in groups for g in _split_by_tokens(group, data.lengths, tokens)]
    return [data.batch(g) for g in groups]


def _split_by_tokens(group: list[int], lengths: list[int], tokens: int) -> list[list[int]]:
    out: list[list[int]] = [[]]
    for i in group:
        longest = max([lengths[j] for j in out[-1]] + [lengths[i]])
        if out[-1] and longest * (len(out[-1]) + 1) > tokens:
            out.append([])
        out[-1].append(i)
    return out
