"""Pretrained word vectors in the word2vec / GloVe text formats."""

from __future__ import annotations

import os

import torch

from .readers import read_lines

__all__ = ["read_vectors"]


def read_vectors(path: str | os.PathLike[str], limit: int | None = None) -> dict[str, torch.Tensor]:
    """Read word vectors: one ``word v1 v2 ... vd`` line each.

    word2vec's text format starts with a ``count dim`` header line, GloVe's does not; both
    are accepted. The first occurrence of a word wins.

    Args:
        path: the vectors file (possibly compressed).
        limit: read at most this many vectors (files list frequent words first).

    Returns:
        word -> float32 vector (d,).

    Raises:
        ValueError: naming the line whose width differs, or a file with no vectors.
    """
    vectors: dict[str, torch.Tensor] = {}
    width = None
    for number, line in enumerate(read_lines(path), start=1):
        cells = line.rstrip().split(" ")
        if number == 1 and len(cells) == 2 and all(c.isdigit() for c in cells):
            continue  # the word2vec header
        if len(cells) < 2:
            continue
        if width is None:
            width = len(cells) - 1
        if len(cells) - 1 != width:
            raise ValueError(
                f"{path}:{number}: a vector of {len(cells) - 1} numbers where the first had {width}"
            )
        try:
            values = [float(c) for c in cells[1:]]
        except ValueError:
            raise ValueError(f"{path}:{number}: {cells[0]!r} has a non-numeric vector") from None
        vectors.setdefault(cells[0], torch.tensor(values))
        if limit is not None and len(vectors) >= limit:
            break
    if not vectors:
        raise ValueError(f"{path} holds no word vectors")
    return vectors
