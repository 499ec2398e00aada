"""Word vectors learnt from raw text: positive pointwise mutual information of windowed
co-occurrence counts, factored by a truncated SVD (Levy, Goldberg & Dagan 2015, "Improving
distributional similarity with lessons learned from word embeddings").

On a corpus of a million words this takes seconds and matches skip-gram, so a tagger gets
vectors for words its training set never saw (the names of WNUT 2017's test set, say) from
the unlabelled text it already pretrains its character LMs on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sparse
import torch
from scipy.sparse.linalg import svds

__all__ = ["text_vectors", "tokenize"]

# URLs whole, @mentions and #hashtags with their sign, clitics ('s, 'm) apart, each other
# punctuation mark alone: the tokenisation of the WNUT and UD English training files.
_TOKEN = re.compile(r"https?://\S+|[@#]?\w+|'\w+|[^\w\s]")
_CHUNK = 5_000_000  # tokens counted per pass (bounds the memory of the pair arrays)
_UNKNOWN, _BREAK = -1, -2  # ids of a word without a vector and of a line break


def tokenize(line: str) -> list[str]:
    """Split raw text into word tokens as the English tagging treebanks do (roughly)."""
    return _TOKEN.findall(line)


def text_vectors(lines: Iterable[str], *, dim: int = 100, window: int = 4, min_count: int = 2,
                 max_words: int = 200_000, lowercase: bool = True, seed: int = 0
                 ) -> dict[str, torch.Tensor]:  # fmt: skip
    """Vectors of the words of ``lines`` (one document per line, tokenised by `tokenize`).

    Co-occurrences within ``window`` tokens on either side are weighted 1/distance (as
    GloVe), never across lines; PPMI uses context counts smoothed to the power 0.75; a
    word's vector is its row of U sqrt(S), rescaled to length sqrt(dim) so that its entries
    have the unit scale of a freshly initialised embedding.

    Args:
        lines: the raw text, one document (tweet, sentence, paragraph) per string.
        dim: vector width. Default 100.
        window: context tokens on each side. Default 4.
        min_count: rarer words get no vector. Default 2.
        max_words: at most this many words, the most frequent. Default 200,000.
        lowercase: fold the text to lower case first (as a tagger that looks words up
            lowercased needs). Default True.
        seed: seeds the SVD's start vector, so that a run repeats. Default 0.

    Returns:
        word -> float32 vector (dim,), most frequent words first.

    Raises:
        ValueError: when the text holds too few distinct words for ``dim``.
    """
    documents = [tokenize(line.lower() if lowercase else line) for line in lines]
    counts = Counter(word for document in documents for word in document)
    words = [w for w, c in counts.most_common(max_words) if c >= min_count]
    if len(words) <= 2 * dim:
        raise ValueError(
            f"the text has {len(words)} distinct words seen {min_count}+ times; vectors of "
            f"width {dim} need more than {2 * dim} (give more raw text)"
        )
    index = {w: i for i, w in enumerate(words)}
    ids: list[int] = []
    for document in documents:
        ids.extend(index.get(w, _UNKNOWN) for w in document)
        ids.append(_BREAK)
    matrix = _cooccurrences(np.asarray(ids), len(words), window)
    vectors = _factor(_ppmi(matrix), dim, seed)
    return {w: torch.from_numpy(v) for w, v in zip(words, vectors)}


def _cooccurrences(ids: np.ndarray, size: int, window: int) -> sparse.csr_matrix:
    """Symmetric 1/distance-weighted counts of word pairs at most ``window`` apart in a line."""
    line = np.cumsum(ids == _BREAK)  # which line each position is in
    total = sparse.csr_matrix((size, size))
    for start in range(0, len(ids), _CHUNK):
        stop = min(len(ids), start + _CHUNK + window)
        chunk, chunk_line = ids[start:stop], line[start:stop]
        rows, cols, weights = [], [], []
        for distance in range(1, window + 1):
            left, right = chunk[:-distance], chunk[distance:]
            keep = (left >= 0) & (right >= 0) & (chunk_line[:-distance] == chunk_line[distance:])
            keep[_CHUNK:] = False  # pairs starting past the chunk belong to the next one
            rows += [left[keep], right[keep]]
            cols += [right[keep], left[keep]]
            weights += [np.full(2 * int(keep.sum()), 1.0 / distance)]
        total = total + sparse.csr_matrix(
            (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
            shape=(size, size),
        )
    return total


def _ppmi(matrix: sparse.csr_matrix, smoothing: float = 0.75) -> sparse.csr_matrix:
    """max(0, log p(w, c) / (p(w) p_s(c))), p_s the context counts to the power ``smoothing``."""
    pairs = matrix.tocoo()
    total = pairs.data.sum()
    word = np.asarray(matrix.sum(axis=1)).ravel() / total
    context = np.asarray(matrix.sum(axis=0)).ravel() ** smoothing
    context /= context.sum()
    pmi = np.log(pairs.data / total) - np.log(word[pairs.row]) - np.log(context[pairs.col])
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (pairs.row[keep], pairs.col[keep])), shape=matrix.shape)


def _factor(matrix: sparse.csr_matrix, dim: int, seed: int) -> np.ndarray:
    """Rows of U sqrt(S) of the rank-``dim`` SVD, each of length sqrt(dim)."""
    start = np.random.default_rng(seed).standard_normal(matrix.shape[0])
    u, s, _vt = svds(matrix, k=dim, v0=start)
    vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors * np.sqrt(dim) / np.maximum(norms, 1e-12)).astype(np.float32)
