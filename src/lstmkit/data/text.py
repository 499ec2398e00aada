"""Tokenizers for text tasks: character and word vocabularies with `<unk>`, saved as JSON."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lstmkit.data.registry import dataset_file
from lstmkit.data.validate import check_input_file

if TYPE_CHECKING:
    import pandas

__all__ = ["PAD", "UNK", "Tokenizer", "load_shakespeare", "read_text"]

PAD = "<pad>"
UNK = "<unk>"

# Words keep their elision apostrophes ("prov'd", "o'er", "'tis"); every other non-space
# symbol is its own token, and a newline is a token so that a word-level model learns lines.
_WORD_RE = re.compile(r"\n|'?\w+(?:'\w+)*|[^\w\s]")
# Detokenising rules: no space before closing punctuation, none after an opening one.
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}'-\n")
_NO_SPACE_AFTER = frozenset("([{-\n")


def load_shakespeare() -> pandas.DataFrame:
    """The 35 plays of the First Folio embedded in the package (see datasets/SOURCES.md).

    Returns:
        A DataFrame with columns `play` (file stem, e.g. "hamlet"), `genre` ("comedy",
        "history" or "tragedy", as the Folio grouped them) and `text` (the whole play).
    """
    import pandas as pd  # imported here so that tokenizers stay importable without pandas

    return pd.read_csv(dataset_file("shakespeare_first_folio.csv.xz"), keep_default_na=False)


def read_text(path: str | Path, *, encoding: str = "utf-8") -> str:
    """Read a text file, refusing a missing or empty one with a clear message.

    Args:
        path: file to read.
        encoding: text encoding (default utf-8).

    Returns:
        The file's contents.
    """
    path = Path(path)
    check_input_file(path, "text file", "pass the path of a text file")
    text = path.read_text(encoding=encoding)
    if not text.strip():
        raise ValueError(f"text file {str(path)!r} is empty; a language model needs some text")
    return text


class Tokenizer:
    """A character- or word-level tokenizer with a fixed vocabulary.

    Id 0 is `<pad>` and id 1 is `<unk>`; tokens seen fewer than `min_freq` times when the
    vocabulary was built map to `<unk>`. Character level is lossless for characters in the
    vocabulary. Word level splits words, punctuation and newlines, and joins them back with
    simple spacing rules, so `decode(encode(text))` is `text` in normal form (see
    `normalize`) and `encode(decode(ids)) == ids` for ids without `<unk>` or `<pad>`.

    Args:
        tokens: the vocabulary in id order, starting with `<pad>` and `<unk>`.
        level: "char" or "word".
        lowercase: fold text to lower case before splitting (word level only makes sense).

    Example:
        >>> tok = Tokenizer.build(["to be, or not to be"], level="word")
        >>> tok.decode(tok.encode("to be, or not"))
        'to be, or not'
    """

    def __init__(self, tokens: Sequence[str], level: str = "char", *, lowercase: bool = False):
        if level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {level!r}")
        tokens = list(tokens)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("the vocabulary has duplicate tokens")
        self.tokens = tokens
        self.level = level
        self.lowercase = lowercase
        self.index = {tok: i for i, tok in enumerate(tokens)}

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        level: str = "char",
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        lowercase: bool = False,
        min_docs: int = 1,
    ) -> Tokenizer:
        """Count tokens in `texts` and keep those seen at least `min_freq` times.

        Args:
            texts: training texts (never validation text: that would leak its vocabulary).
            level: "char" or "word".
            min_freq: minimum count for a token to get its own id (default 1).
            max_size: keep at most this many tokens besides `<pad>` and `<unk>`, most frequent
                first (default: no limit).
            lowercase: fold to lower case first.
            min_docs: keep only tokens found in at least this many of the `texts` (e.g. with
                one text per play, 3 drops the names of characters of one or two plays).

        Returns:
            The tokenizer; ties in frequency are broken alphabetically so builds are stable.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        probe = cls([PAD, UNK], level, lowercase=lowercase)
        counts: Counter[str] = Counter()
        docs: Counter[str] = Counter()
        for text in texts:
            pieces = probe.split(text)
            counts.update(pieces)
            docs.update(set(pieces))
        if not counts:
            raise ValueError("cannot build a vocabulary from empty text")
        kept = [t for t, n in counts.items() if n >= min_freq and docs[t] >= min_docs]
        kept.sort(key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        return cls([PAD, UNK, *kept], level, lowercase=lowercase)

    # -- splitting and joining -------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        """Split text into string tokens (characters, or words/punctuation/newlines)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self.lowercase:
            text = text.lower()
        if self.level == "char":
            return list(text)
        return _WORD_RE.findall(text)

    def join(self, pieces: Sequence[str]) -> str:
        """Join string tokens back into text (inverse of `split` up to spacing)."""
        if self.level == "char":
            return "".join(pieces)
        out: list[str] = []
        prev = "\n"
        for tok in pieces:
            if out and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(tok)
            prev = tok
        return "".join(out)

    def normalize(self, text: str) -> str:
        """The text as `decode(encode(text))` gives it back when every token is known."""
        return self.join(self.split(text))

    # -- ids -------------------------------------------------------------------------------
    @property
    def pad_id(self) -> int:
        return 0

    @property
    def unk_id(self) -> int:
        return 1

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Map text to token ids; unknown tokens become `<unk>` (id 1).

        Args:
            text: any string.

        Returns:
            A list of ids in [0, len(self)).
        """
        get = self.index.get
        return [get(tok, 1) for tok in self.split(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Map ids back to text; `<pad>` is dropped and `<unk>` is written as `<unk>`."""
        pieces = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"token id {i} is outside the vocabulary of {len(self)} tokens")
            if i != 0:
                pieces.append(self.tokens[i])
        return self.join(pieces)

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """JSON-safe description (what `save` writes)."""
        return {"level": self.level, "lowercase": self.lowercase, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        """Rebuild from `to_dict`'s output, checking its fields."""
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise ValueError("tokenizer data must be a dict with a 'tokens' list")
        return cls(data["tokens"], data.get("level", "char"), lowercase=bool(data.get("lowercase")))

    def save(self, path: str | Path) -> Path:
        """Write the tokenizer as JSON to `path` and return the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a tokenizer written by `save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read tokenizer {str(path)!r}: {err}") from err
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Tokenizer(level={self.level!r}, size={len(self)}, lowercase={self.lowercase})"
