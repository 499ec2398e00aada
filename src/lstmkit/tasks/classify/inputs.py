"""What a classifier reads: inputs told apart by kind, labels filled, the validation split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from .data import LabelledSequences, LabelledTexts

__all__ = ["KINDS", "Data", "RawData", "fill_labels", "split_inputs", "texts_by_group",
           "validation_split"]  # fmt: skip

Data = LabelledSequences | LabelledTexts
# What predict_proba and predict also take: texts, or numeric sequences of shape (T, F).
RawData = Sequence[str] | Sequence[torch.Tensor | np.ndarray]

KINDS = {"text": "texts", "numeric": "numeric sequences"}


def fill_labels(column: pd.Series) -> pd.Series:
    """Missing labels as "" (a label no model knows). Where a gap made pandas read integer
    labels as floats, they go back to integers, so 1 stays "1" rather than "1.0"."""
    if pd.api.types.is_float_dtype(column) and (column.dropna() % 1 == 0).all():
        column = column.astype("Int64")
    return column.astype(object).where(column.notna(), "")


def split_inputs(data: Data | RawData) -> tuple[str, list]:
    """("text", texts) or ("numeric", float tensors (T, F)) from labelled or raw data."""
    if isinstance(data, LabelledTexts):
        return "text", list(data.texts)
    if isinstance(data, LabelledSequences):
        return "numeric", list(data.seqs)
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence):
        raise TypeError(
            "expected LabelledSequences, LabelledTexts, a list of texts or a list of (T, F) "
            f"sequences, got {type(data).__name__}"
        )
    if data and all(isinstance(x, str) for x in data):
        return "text", list(data)
    if any(isinstance(x, str) for x in data):
        raise TypeError("the list mixes texts and other items; give texts or sequences only")
    return "numeric", [torch.as_tensor(np.asarray(x, dtype=np.float32)) for x in data]


def validation_split(y: torch.Tensor, share: float, seed: int) -> tuple[list[int], list[int]]:
    """(fit, validation) indices: `share` of each class (at least one where a class has two
    or more examples) held out by a generator of its own, so the weights' seed is untouched."""
    if not share:
        return list(range(len(y))), []
    rng = np.random.default_rng([seed, 17])
    val: list[int] = []
    for k in range(int(y.max()) + 1):
        idx = np.flatnonzero(y.numpy() == k)
        if len(idx) >= 2:
            val.extend(rng.permutation(idx)[: max(1, round(len(idx) * share))].tolist())
    held = set(val)
    return [i for i in range(len(y)) if i not in held], sorted(val)


def texts_by_group(data: LabelledTexts) -> list[str]:
    """The training texts joined per group (each text its own group when there are none)."""
    if not data.groups:
        return list(data.texts)
    joined: dict[str, list[str]] = {}
    for text, group in zip(data.texts, data.groups):
        joined.setdefault(group, []).append(text)
    return ["\n".join(texts) for texts in joined.values()]
