"""Inputs for sequence classification: numeric long-form CSVs, text CSVs and the embedded sets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lstmkit.data.registry import dataset_file
from lstmkit.data.text import load_shakespeare
from lstmkit.data.validate import EXACT_FLOATS, check_input_file

__all__ = [
    "LabelledSequences",
    "LabelledTexts",
    "genre_passages",
    "load_japanese_vowels",
    "read_csv_frame",
    "read_sequence_csv",
    "read_text_csv",
]

# Three plays of each genre held out for testing: whole plays, so no character names,
# places or plots leak from training into the test set.
GENRE_TEST_PLAYS = (
    "twelfth_night", "measure_for_measure", "merry_wives_of_windsor",
    "henry_v", "richard_ii", "henry_vi_part_2",
    "hamlet", "othello", "julius_caesar",
)  # fmt: skip


@dataclass
class LabelledSequences:
    """Numeric sequences, `seqs[i]` of shape (T_i, F), with a label each (none if unlabelled)."""

    seqs: list[torch.Tensor]
    labels: list[str]
    features: list[str]
    ids: list = field(default_factory=list)


@dataclass
class LabelledTexts:
    """Texts with a label each (`labels` empty when unlabelled), and the group (e.g. play)."""

    texts: list[str]
    labels: list[str]
    groups: list[str] = field(default_factory=list)


def read_csv_frame(source: str | Path | pd.DataFrame, *, text: bool = False) -> pd.DataFrame:
    """Read a CSV into a DataFrame (a DataFrame passes through), with clear errors.

    ``text=True`` reads every cell as the string it is: "NA", "nan", "None" are texts,
    not missing values (pandas' default NA strings), and an empty cell is "".
    """
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    check_input_file(path, "CSV file", "pass the path of a CSV file")
    try:
        df = (
            pd.read_csv(path, keep_default_na=False, dtype=str)
            if text
            else pd.read_csv(path, float_precision=EXACT_FLOATS)
        )
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"CSV file {str(path)!r} is empty") from err
    if df.empty:
        raise ValueError(f"CSV file {str(path)!r} has a header but no rows")
    return df


def _plain(value):
    """A numpy scalar as the Python value, so messages show 1 rather than np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def _require(df: pd.DataFrame, column: str, role: str, flag: str) -> None:
    if column not in df.columns:
        raise ValueError(
            f"{role} column {column!r} is not in the CSV (columns: "
            f"{', '.join(map(str, df.columns))}); name it with {flag}"
        )


def read_sequence_csv(
    source: str | Path | pd.DataFrame,
    *,
    label_col: str | None,
    id_col: str = "sequence",
    step_col: str | None = "step",
    feature_cols: list[str] | None = None,
) -> LabelledSequences:
    """Read numeric sequences in long form: one row per step, sequences told apart by an id.

    Args:
        source: CSV path or DataFrame.
        label_col: the class of each row's sequence (constant within a sequence); None
            for unlabelled data (the result's `labels` is then empty).
        id_col: sequence identifier.
        step_col: step order within a sequence (None: keep the file's row order).
        feature_cols: numeric feature columns (default: every other column).

    Returns:
        The sequences in order of first appearance, each (T_i, F) float32.
    """
    df = read_csv_frame(source)
    if label_col is not None:
        _require(df, label_col, "label", "--label-col")
    _require(df, id_col, "sequence id", "--id-col")
    if step_col is not None:
        _require(df, step_col, "step", "--step-col")
    used = {label_col, id_col, step_col} - {None}
    features = feature_cols or [c for c in df.columns if c not in used]
    _check_features(df, features)
    if step_col is not None:
        empty = df[df[step_col].isna()]
        if len(empty):
            raise ValueError(
                f"sequence {_plain(empty[id_col].iloc[0])!r} has a row with no step; every row "
                "of the long form is one step of a sequence"
            )
        df = df.sort_values([id_col, step_col], kind="stable")
    seqs, labels, ids = [], [], []
    for sid, group in df.groupby(id_col, sort=False):
        if label_col is not None:
            values = group[label_col].unique()
            if len(values) != 1:
                raise ValueError(
                    f"sequence {_plain(sid)!r} has several labels {list(values)}; expected one"
                )
            labels.append(str(values[0]))
        seqs.append(torch.tensor(group[features].to_numpy(dtype=np.float32)))
        ids.append(_plain(sid))
    return LabelledSequences(seqs, labels, [str(f) for f in features], ids)


def _check_features(df: pd.DataFrame, features: list) -> None:
    """Every feature column present, numeric and finite, or a message naming the fix."""
    if not features:
        raise ValueError("the CSV has no feature columns besides the id, step and label")
    for col in features:
        _require(df, col, "feature", "--features")
        if not pd.api.types.is_numeric_dtype(df[col]):
            bad = df[col][pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()]
            raise ValueError(
                f"feature column {col!r} is not numeric (e.g. {bad.iloc[0]!r} in row "
                f"{bad.index[0]}); convert it to numbers or leave it out with --features"
            )
    if df[features].isna().to_numpy().any() or not np.isfinite(df[features].to_numpy()).all():
        row = int(np.flatnonzero(~np.isfinite(df[features].to_numpy(dtype=float)).all(1))[0])
        raise ValueError(f"row {row} has a missing or infinite feature value; fill or drop it")


def read_text_csv(
    source: str | Path | pd.DataFrame, *, text_col: str = "text", label_col: str | None = "label"
) -> LabelledTexts:
    """Read a CSV with one text and one label per row.

    Args:
        source: CSV path or DataFrame.
        text_col: column holding the text.
        label_col: column holding the class; None for unlabelled texts (`labels` empty).

    Returns:
        The texts and their labels as strings, in the file's row order.
    """
    df = read_csv_frame(source, text=True)
    _require(df, text_col, "text", "--text-col")
    if label_col is not None:
        _require(df, label_col, "label", "--label-col")
        missing = df[label_col].isna() | (df[label_col].astype(str).str.strip() == "")
        if missing.any():
            raise ValueError(f"row {int(missing.idxmax())} has no label")
    texts = df[text_col].fillna("").astype(str)
    empty = texts.str.strip() == ""
    if empty.any():
        raise ValueError(f"row {int(empty.idxmax())} has an empty text; drop it or fill it in")
    labels = [] if label_col is None else df[label_col].astype(str).tolist()
    return LabelledTexts(texts.tolist(), labels)


def load_japanese_vowels(split: str) -> LabelledSequences:
    """The embedded Japanese Vowels set (speaker 1-9 from 12 LPC coefficients per frame).

    Args:
        split: "train" (270 sequences) or "test" (370), the official split.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    df = pd.read_csv(dataset_file(f"japanese_vowels_{split}.csv.gz"))
    return read_sequence_csv(df, label_col="speaker")


def genre_passages(
    lines_per_passage: int = 10, test_plays: tuple[str, ...] = GENRE_TEST_PLAYS
) -> tuple[LabelledTexts, LabelledTexts]:
    """Passages of the First Folio plays labelled comedy, history or tragedy, split by play.

    Each play's non-blank lines are cut into consecutive passages of `lines_per_passage`
    lines (the remainder dropped); every passage of a test play goes to the test set.

    Args:
        lines_per_passage: lines per passage.
        test_plays: plays held out for testing (default three per genre).

    Returns:
        `(train, test)` with the play of each passage in `groups`.
    """
    plays = load_shakespeare()
    unknown = set(test_plays) - set(plays.play)
    if unknown:
        raise ValueError(f"unknown test plays {sorted(unknown)}; choose from {list(plays.play)}")
    train, test = LabelledTexts([], [], []), LabelledTexts([], [], [])
    for play, genre, text in plays[["play", "genre", "text"]].itertuples(index=False):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        target = test if play in test_plays else train
        for i in range(0, len(lines) - lines_per_passage + 1, lines_per_passage):
            target.texts.append("\n".join(lines[i : i + lines_per_passage]))
            target.labels.append(genre)
            target.groups.append(play)
    return train, test
