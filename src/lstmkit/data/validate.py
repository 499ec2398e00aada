"""Input checks every task runs before training: values float32 can train on, flags in range,
output paths that can be written. Each raises one line that names the culprit and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "EXACT_FLOATS",
    "FLOAT32_LIMIT",
    "check_number_flag",
    "check_output_file",
    "check_values",
]

# The largest magnitude whose square still fits in float32 (~1.8e19): beyond it, the sums of
# squares that scaling, losses and gradient norms compute overflow to inf in float32 training.
FLOAT32_LIMIT = float(np.sqrt(np.finfo(np.float32).max))
# pandas' `float_precision` for numeric CSVs: pandas 2's default parser may miss the nearest
# double by an ulp (pandas 3 does not), so a series written and read back, or read on another
# pandas, would train and score on slightly different numbers.
EXACT_FLOATS = "round_trip"


def check_values(
    values: np.ndarray,
    columns: Sequence[str],
    *,
    what: str,
    row_names: Sequence[object] | None = None,
    allow_nan: bool = False,
) -> None:
    """Refuse infinite (and, unless ``allow_nan``, NaN) or absurdly large values.

    Args:
        values: (rows, columns) numbers.
        columns: the column names, for the message.
        what: where the values come from (``"the series"``), for the message.
        row_names: how to name each row (timestamps, sequence ids); default its index.
        allow_nan: NaN means a missing value the caller handles.

    Raises:
        ValueError: naming the first bad value's column and row.

    >>> check_values(np.array([[1.0], [2.0]]), ["x"], what="the series")
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    bad = np.isinf(values) | (np.abs(np.nan_to_num(values, nan=0.0)) > FLOAT32_LIMIT)
    if not allow_nan:
        bad |= np.isnan(values)
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    name = f"index {row}" if row_names is None else row_names[row]
    value = values[row, col]
    reason = (
        "is not a finite number"
        if not np.isfinite(value)
        else f"is beyond what float32 training can hold (|x| > {FLOAT32_LIMIT:.2g})"
    )
    raise ValueError(
        f"{what}: column {columns[col]!r}, row {name}: the value {value:g} {reason} "
        f"({int(bad.sum())} such value(s) in all); fix or remove them before training"
    )


def check_number_flag(
    flag: str,
    value: float | int | None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    why: str = "",
) -> None:
    """Refuse a flag's value outside ``[low, high]`` (``(low, high]`` with ``low_open``).

    Args:
        flag: the flag as typed (``"--top-k"``).
        value: its value; None (not given) passes.
        low, high: the bounds (None: unbounded on that side).
        low_open: the lower bound itself is refused.
        why: what the bound protects, appended to the message.

    Raises:
        ValueError: ``"--top-k must be >= 0, got -1"``.

    >>> check_number_flag("--epochs", 3, low=1)
    """
    if value is None:
        return
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{flag} must be a number, got nan")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            bound = f"lie in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low is not None:
            bound = f"be {'>' if low_open else '>='} {low:g}"
        else:
            bound = f"be <= {high:g}"
        raise ValueError(f"{flag} must {bound}, got {value:g}{f' ({why})' if why else ''}")


def check_output_file(path: str | Path, flag: str) -> Path:
    """Refuse an output file path that is a directory or sits under a file, before any work.

    Args:
        path: where a file will be written.
        flag: the flag that named it.

    Returns:
        The path.

    Raises:
        ValueError: the path is a directory, or a parent of it is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file path to write")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{flag} {path}: {parent} is a file, not a directory")
    return path


def check_input_file(path: str | Path, what: str, fix: str = "check the path") -> Path:
    """Refuse a path to read that is a directory or missing, saying which of the two.

    Args:
        path: the file to read.
        what: what it should be (``"CSV file"``), for the message.
        fix: how to fix it, appended to the message.

    Raises:
        ValueError: ``"CSV file 'x' is a directory; ..."`` or ``"... does not exist; ..."``.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a directory, not a file; {fix}")
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist; {fix}")
    return path
