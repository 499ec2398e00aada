"""Read a forecasting CSV: find the time column, check targets and covariates, report gaps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.registry import dataset_file
from lstmkit.data.validate import EXACT_FLOATS, check_input_file

__all__ = ["DATASETS", "SeriesData", "dataset_path", "interpolate", "load_series"]

# Column names taken as the time axis when none is given (compared case-insensitively).
TIME_NAMES = ("date", "datetime", "time", "timestamp", "ds", "month", "week", "day", "year")

# Embedded datasets: file name and the settings that make them a sensible default run.
DATASETS: dict[str, dict] = {
    "airline": {"file": "airline_passengers.csv", "targets": ["passengers"], "horizon": 24},
    "seattle": {
        "file": "seattle_weather.csv",
        "targets": ["temp_max"],
        "covariates": ["precipitation", "temp_min", "wind"],
        "horizon": 90,
        # Weather repeats yearly; the weekly period that daily data implies means nothing here.
        "season": 365,
    },
}


@dataclass
class SeriesData:
    """A validated multivariate series, sorted in time, with NaN where values are missing.

    Args:
        values: shape (T, K + C): the K targets first, then the C covariates.
        columns: the K + C column names, in that order.
        num_targets: K.
        times: the sorted timestamps (or the ordinal time key), or None without a time column.
        time_column: name of the time column, or None.
        notes: what was found and done (gaps, sorting), for the user to read.
    """

    values: np.ndarray
    columns: list[str]
    num_targets: int
    times: pd.Index | None = None
    time_column: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        """Names of the target columns."""
        return self.columns[: self.num_targets]

    @property
    def covariates(self) -> list[str]:
        """Names of the covariate columns."""
        return self.columns[self.num_targets :]

    @property
    def missing(self) -> np.ndarray:
        """Boolean mask of missing values, shape (T, K + C)."""
        return np.isnan(self.values)


def dataset_path(name: str) -> Path:
    """Path of an embedded dataset ("airline" or "seattle")."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; embedded datasets are {sorted(DATASETS)}")
    return dataset_file(DATASETS[name]["file"])


def load_series(
    source: str | Path | pd.DataFrame,
    *,
    targets: list[str] | None = None,
    covariates: list[str] | None = None,
    time_column: str | None = None,
    encode: bool = False,
) -> SeriesData:
    """Read and check a series from a CSV file or a DataFrame.

    Args:
        source: CSV path or DataFrame, one row per time step.
        targets: columns to forecast; None takes the first numeric column.
        covariates: extra input columns; None takes every other numeric column, [] none.
        time_column: the time column; None detects it (a column named like "date" or
            "month", or the first text column that parses as dates). Its rows are sorted and
            must be unique.
        encode: one-hot encode non-numeric covariates instead of rejecting them.

    Returns:
        The series with NaN kept where values are missing (see :func:`interpolate`).

    Raises:
        ValueError: empty input, unknown, all-empty or non-numeric columns, bad or duplicate
            timestamps.
    """
    df = _read(source)
    notes: list[str] = []
    tcol = _find_time_column(df, time_column)
    times = None
    if tcol is not None:
        df, times = _sort_by_time(df, tcol, notes)
    rest = [c for c in df.columns if c != tcol]
    numeric = {c: _numeric(df[c]) for c in rest}
    if targets is None:
        candidates = [c for c in rest if numeric[c] is not None]
        if not candidates:
            raise ValueError(f"no numeric column to forecast among {rest}; pass a numeric target")
        targets = candidates[:1]
    for name in targets:
        _check_column(df, name, numeric, role="target")
    if covariates is None:
        covariates = [c for c in rest if c not in targets]
    cols: dict[str, np.ndarray] = {name: numeric[name] for name in targets}
    for name in covariates:
        if name in targets:
            raise ValueError(f"column {name!r} is both a target and a covariate; choose one")
        if numeric.get(name) is None and encode and name in df.columns:
            for level in sorted(df[name].dropna().astype(str).unique()):
                cols[f"{name}={level}"] = (df[name].astype(str) == level).to_numpy(float)
            continue
        _check_column(df, name, numeric, role="covariate")
        cols[name] = numeric[name]
    values = np.column_stack(list(cols.values())).astype(np.float64)
    for name, count in zip(cols, np.isnan(values).sum(axis=0)):
        if count:
            notes.append(f"column {name!r}: {count} missing values, filled by interpolation")
    return SeriesData(values, list(cols), len(targets), times, tcol, notes)


def interpolate(values: np.ndarray) -> np.ndarray:
    """Fill NaN linearly between neighbours, and with the nearest value at the ends.

    Args:
        values: shape (T, C) with at least one value per column.

    Returns:
        A filled copy.
    """
    df = pd.DataFrame(values)
    return df.interpolate(method="linear", limit_direction="both").to_numpy(np.float64)


def _read(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        where = "the DataFrame"
    else:
        path = Path(source)
        check_input_file(path, "CSV file")
        where = f"CSV {str(path)!r}"
        try:
            df = pd.read_csv(path, float_precision=EXACT_FLOATS)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{where} is empty; it needs a header row and data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise ValueError(f"{where} could not be parsed as CSV: {err}") from None
    if df.empty:
        raise ValueError(f"{where} has no data rows; it needs a header row and data rows")
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _find_time_column(df: pd.DataFrame, name: str | None) -> str | None:
    if name is not None:
        if name not in df.columns:
            raise ValueError(f"time column {name!r} is not in the CSV; columns are {list(df)}")
        return name
    for col in df.columns:
        if col.lower() in TIME_NAMES:
            return col
    for col in df.columns:
        if df[col].dtype == object and _as_dates(df[col]).notna().all():
            return col
    return None


def _as_dates(col: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(col):
        # Integer time keys (years, periods) keep their order; only their spacing matters.
        return col
    try:
        return pd.to_datetime(col, errors="coerce", format="mixed")
    except (TypeError, ValueError):
        return pd.Series(pd.NaT, index=col.index)


def _sort_by_time(df: pd.DataFrame, tcol: str, notes: list[str]) -> tuple[pd.DataFrame, pd.Index]:
    times = _as_dates(df[tcol])
    bad = times.isna()
    if bad.any():
        examples = df.loc[bad, tcol].astype(str).head(3).tolist()
        raise ValueError(
            f"time column {tcol!r} has {int(bad.sum())} values that are not dates, e.g. "
            f"{examples}; fix them or name another column as the time column"
        )
    dup = times.duplicated(keep=False)
    if dup.any():
        first = df.loc[dup, tcol].astype(str).unique()[:3].tolist()
        raise ValueError(
            f"time column {tcol!r} has {int(times.duplicated().sum())} duplicate timestamps, "
            f"e.g. {first}; aggregate or drop the repeated rows first"
        )
    if not times.is_monotonic_increasing:
        notes.append(f"rows were not in time order: sorted by {tcol!r}")
        order = np.argsort(times.to_numpy(), kind="stable")
        df, times = df.iloc[order].reset_index(drop=True), times.iloc[order]
    return df, pd.Index(times.to_numpy())


def _numeric(col: pd.Series) -> np.ndarray | None:
    """The column as float64, or None if it holds text that is not a number."""
    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return col.to_numpy(np.float64)
    parsed = pd.to_numeric(col, errors="coerce")
    if (parsed.isna() & col.notna()).any():
        return None
    return parsed.to_numpy(np.float64)


def _check_column(df: pd.DataFrame, name: str, numeric: dict, *, role: str) -> None:
    if name not in df.columns:
        raise ValueError(
            f"{role} column {name!r} is not in the CSV; columns are {list(df.columns)}"
        )
    if numeric.get(name) is None:
        sample = df[name].dropna().astype(str).head(2).tolist()
        fix = (
            "forecast a numeric column"
            if role == "target"
            else "one-hot encode it with encode=True (--encode) or choose other covariates"
        )
        raise ValueError(f"{role} column {name!r} is not numeric (values like {sample}); {fix}")
    if np.isnan(numeric[name]).all():
        raise ValueError(f"{role} column {name!r} has no values (all empty); drop or fill it")
