"""Reading and writing tagged sentences: CoNLL-U treebanks, CoNLL column files, plain text.

- CoNLL-U (Universal Dependencies): ten tab-separated columns per word line; ``#``
  comments; multi-word token ranges (``3-4``) and empty nodes (``5.1``) are not words and
  are skipped for tagging, as UD specifies, but kept for writing the file back.
- CoNLL column files (CoNLL-2000/2003, WNUT, GermEval): a token per line, columns separated
  by a tab (or, on lines without one, by spaces), a whitespace-only line between sentences,
  ``-DOCSTART-`` lines skipped, and so are ``#`` lines that do not have the token lines'
  columns (GermEval's comments; CoNLL-2000's token ``#`` is a word).
- Plain text: one tokenised sentence per line, tokens separated by spaces.

Files may be compressed (``.xz``, ``.gz``, ``.bz2``). A malformed line raises ValueError
naming the file and the line number.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
from dataclasses import dataclass, field
from pathlib import Path

from lstmkit.io import atomic_write

__all__ = [
    "CONLLU_COLUMNS",
    "FORMATS",
    "TaggedSentences",
    "read_conll",
    "read_conllu",
    "read_lines",
    "read_tagged",
    "read_text",
    "sniff_format",
    "write_conll",
]

CONLLU_COLUMNS = {"upos": 4, "xpos": 5}  # 1-based, as `cut -f` counts
_OPENERS = {".xz": lzma.open, ".gz": gzip.open, ".bz2": bz2.open}


@dataclass
class TaggedSentences:
    """Sentences of words with one tag per word (``tags`` empty when unlabelled).

    ``conllu`` keeps, for CoNLL-U input, each sentence's original lines and which of them
    are its words, so predictions can be written back into the same file layout.
    """

    words: list[list[str]]
    tags: list[list[str]] = field(default_factory=list)
    source: str = ""
    conllu: list[tuple[list[str], list[int]]] | None = None

    def __len__(self) -> int:
        return len(self.words)

    @property
    def labelled(self) -> bool:
        """Whether every sentence has its tags."""
        return bool(self.tags) and len(self.tags) == len(self.words)


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """The lines of a UTF-8 text file (possibly compressed), without their line ends
    (nor a byte-order mark at the start)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a file: give a CoNLL(-U) or text file")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (or is not a file)")
    opener = _OPENERS.get(path.suffix, open)
    try:
        # newline="\n": a bare carriage return inside a line is text, not a line break.
        with opener(path, "rt", encoding="utf-8-sig", newline="\n") as handle:
            return [line.rstrip("\r\n") for line in handle]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text: {err}") from None
    except (OSError, EOFError, lzma.LZMAError) as err:
        raise ValueError(f"{path} cannot be read: {err}") from None


def _column_index(column: str | int, width: int | None, where: str) -> int:
    """0-based index of a column given as "upos"/"xpos" (CoNLL-U) or a 1-based number."""
    if isinstance(column, str) and column.lower() in CONLLU_COLUMNS:
        return CONLLU_COLUMNS[column.lower()] - 1
    try:
        number = int(column)
    except (TypeError, ValueError):
        raise ValueError(
            f"unknown column {column!r}: give upos, xpos or a column number (1 is the first)"
        ) from None
    if number < 1:
        raise ValueError(f"column {number} does not exist: columns are numbered from 1")
    if width is not None and number > width:
        raise ValueError(f"{where}: column {number} does not exist (lines have {width} columns)")
    return number - 1


def read_conllu(
    path: str | os.PathLike[str], column: str | int = "upos", *, labelled: bool = True
) -> TaggedSentences:
    """Read a CoNLL-U file: each sentence's word forms and the tags of ``column``.

    Args:
        path: the file (``.conllu``, possibly compressed).
        column: "upos", "xpos" or a 1-based column number. Default "upos".
        labelled: require a tag on every word (``_`` is an error); with False the tags
            are not read (input to predict).

    Returns:
        TaggedSentences with ``conllu`` set for writing predictions back.
    """
    index = _column_index(column, 10, f"{path}")
    if index < 2:
        raise ValueError(f"column {index + 1} of CoNLL-U is the word's {('ID', 'FORM')[index]}, "
                         "not a tag: give upos, xpos or another column")  # fmt: skip
    words: list[list[str]] = []
    tags: list[list[str]] = []
    layout: list[tuple[list[str], list[int]]] = []
    lines, forms, labels, word_rows = [], [], [], []
    for number, line in enumerate([*read_lines(path), ""], start=1):
        if not line.strip():
            if forms:
                words.append(forms)
                tags.append(labels)
                layout.append((lines, word_rows))
            elif lines and any(not x.startswith("#") for x in lines):
                raise ValueError(f"{path}:{number - 1}: a sentence without any word line")
            lines, forms, labels, word_rows = [], [], [], []
            continue
        lines.append(line)
        if line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 10:
            raise ValueError(
                f"{path}:{number}: a CoNLL-U line has 10 tab-separated columns, this one has "
                f"{len(cells)}: {line[:60]!r}"
            )
        ident = cells[0]
        if "-" in ident or "." in ident:  # a multi-word token range or an empty node
            if not _is_range_or_node(ident):
                raise ValueError(f"{path}:{number}: malformed ID {ident!r}")
            continue
        if not ident.isdigit():
            raise ValueError(f"{path}:{number}: the ID {ident!r} is not a word number")
        tag = cells[index]
        if labelled and tag in ("_", ""):
            raise ValueError(
                f"{path}:{number}: word {cells[1]!r} has no tag in column {index + 1} ('_'); "
                "choose a column the file fills (--column)"
            )
        forms.append(cells[1])
        labels.append(tag)
        word_rows.append(len(lines) - 1)
    if not words:
        raise ValueError(f"{path} holds no sentences")
    return TaggedSentences(words, tags if labelled else [], str(path), layout)


def _is_range_or_node(ident: str) -> bool:
    head, sep, tail = ident.partition("-" if "-" in ident else ".")
    return bool(sep) and head.isdigit() and tail.isdigit()


def read_conll(
    path: str | os.PathLike[str],
    column: str | int | None = None,
    *,
    word_column: int = 1,
    labelled: bool = True,
) -> TaggedSentences:
    """Read a CoNLL column file: one token per line, a blank line between sentences.

    Args:
        path: the file.
        column: 1-based number of the tag column; None: the last column. Default None.
        word_column: 1-based number of the token column. Default 1.
        labelled: read tags; with False a file of tokens only is accepted too.

    Returns:
        TaggedSentences with the tags as written (see ``schemes`` for BIO conversions).
    """
    words: list[list[str]] = []
    tags: list[list[str]] = []
    forms: list[str] = []
    labels: list[str] = []
    lines = read_lines(path)
    width = _token_columns(lines)
    for number, line in enumerate([*lines, ""], start=1):
        if not line.strip():
            if forms:
                words.append(forms)
                tags.append(labels)
            forms, labels = [], []
            continue
        cells = _cells(line)
        if cells[0] == "-DOCSTART-" or (cells[0].startswith("#") and len(cells) != width):
            continue
        where = f"{path}:{number}"
        tag_at = len(cells) - 1 if column is None else _column_index(column, None, where)
        word_at = word_column - 1
        needed = max(word_at, tag_at if labelled else 0) + 1
        if len(cells) < needed or (labelled and column is None and len(cells) < 2):
            raise ValueError(
                f"{where}: expected a token and a tag (at least {max(needed, 2)} columns), "
                f"found {len(cells)}: {line[:60]!r}"
            )
        if labelled and word_at == tag_at:
            raise ValueError(f"{where}: the token and the tag are both column {word_column}; "
                             "choose another --column or --word-column")  # fmt: skip
        if labelled and len(cells) != width:
            raise ValueError(
                f"{where}: {len(cells)} columns where the file's token lines have {width}"
            )
        if not cells[word_at]:
            raise ValueError(f"{where}: empty token")
        forms.append(cells[word_at])
        labels.append(cells[tag_at] if labelled else "")
    if not words:
        raise ValueError(f"{path} holds no sentences")
    return TaggedSentences(words, tags if labelled else [], str(path))


def _cells(line: str) -> list[str]:
    """A column line's cells: tab-separated, or space-separated on a line without a tab;
    whitespace around the line and around each cell is not part of it."""
    line = line.strip()
    return [c.strip() for c in line.split("\t")] if "\t" in line else line.split()


def _token_columns(lines: list[str]) -> int | None:
    """How many columns the token lines have: those of the first line that is not blank, a
    ``-DOCSTART-`` line or a ``#`` line (None if every line is one of those)."""
    for line in lines:
        cells = _cells(line) if line.strip() else []
        if cells and cells[0] != "-DOCSTART-" and not cells[0].startswith("#"):
            return len(cells)
    return None


def read_text(path: str | os.PathLike[str]) -> TaggedSentences:
    """Plain tokenised text: one sentence per non-empty line, tokens separated by spaces."""
    words = [line.split() for line in read_lines(path) if line.strip()]
    if not words:
        raise ValueError(f"{path} holds no sentences (every line is empty)")
    return TaggedSentences(words, [], str(path))


def write_conll(
    path: str | os.PathLike[str],
    sentences: TaggedSentences,
    predicted: list[list[str]],
    column: str | int = "upos",
) -> Path:
    """Write predictions: CoNLL-U input back as CoNLL-U with ``column`` replaced, anything
    else as two tab-separated columns (token, tag) with a blank line between sentences."""
    out: list[str] = []
    if sentences.conllu is not None:
        index = _column_index(column, 10, str(path))
        for (lines, rows), tags in zip(sentences.conllu, predicted):
            lines = list(lines)
            for row, tag in zip(rows, tags):
                cells = lines[row].split("\t")
                cells[index] = tag
                lines[row] = "\t".join(cells)
            out.extend([*lines, ""])
    else:
        for forms, tags in zip(sentences.words, predicted):
            out.extend([*(f"{w}\t{t}" for w, t in zip(forms, tags)), ""])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Every sentence, the last too, ends with a blank line (CoNLL-U requires it).
    atomic_write(path, ("\n".join(out) + "\n").encode("utf-8"))
    return path


FORMATS = ("auto", "conllu", "conll", "text")


def sniff_format(path: str | os.PathLike[str]) -> str:
    """ "conllu", "conll" or "text" from a file's name and first 200 lines.

    ``.conllu`` names, or a first word line of 10 tab-separated cells starting with a
    number, are CoNLL-U. CoNLL column files: every token line has a tab, or every one has
    the same number of space-separated cells and blank lines (or ``-DOCSTART-``) separate
    the sentences. Anything else is plain text: a stray tab in a sentence, or sentences of
    equal lengths a line each, keep it text.
    """
    name = Path(path).name
    if ".conllu" in name:
        return "conllu"
    lines = [line for line in read_lines(path)[:200] if not line.startswith("#")]
    words = [line for line in lines if line.strip()]
    if not words:
        raise ValueError(f"{path} holds no sentences")
    cells = words[0].split("\t")
    if len(cells) == 10 and cells[0].split("-")[0].split(".")[0].isdigit():
        return "conllu"
    tokens = [line for line in words if _cells(line)[0] != "-DOCSTART-"]
    widths = {len(_cells(line)) for line in tokens}
    separated = len(words) < len(lines) or len(tokens) < len(words)  # blank or -DOCSTART-
    tabbed = bool(tokens) and all("\t" in line.strip() for line in tokens)
    return "conll" if tabbed or (len(widths) == 1 and separated) else "text"


def read_tagged(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    column: str | int | None = None,
    *,
    word_column: int = 1,
    labelled: bool = True,
) -> TaggedSentences:
    """Read any supported file: ``fmt`` "auto" sniffs it (`sniff_format`).

    Args:
        column: CoNLL-U: "upos" (default), "xpos" or a number; CoNLL: the tag column's
            number (default the last).
        word_column: CoNLL: the token column's number (CoNLL-U's is FORM). Default 1.
        labelled: read the tags (plain text never has them).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    fmt = sniff_format(path) if fmt == "auto" else fmt
    if fmt == "conllu":
        return read_conllu(path, "upos" if column is None else column, labelled=labelled)
    if fmt == "conll":
        if isinstance(column, str) and column.lower() in CONLLU_COLUMNS:
            column = None  # a CoNLL-U column name means nothing here: the last column
        return read_conll(path, column, word_column=word_column, labelled=labelled)
    if labelled:
        raise ValueError(
            f"{path} looks like plain text (a sentence per line), which has no tags: give a "
            "CoNLL-U file or a CoNLL column file (a token per line; --format conll reads it "
            "as one and names any line that does not fit)"
        )
    return read_text(path)
