"""Long-format panels: many series (id, time, value rows) read, checked, sorted and split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.series import infer_season
from lstmkit.data.validate import EXACT_FLOATS

__all__ = ["MIN_TRAIN", "Panel", "PanelSeries", "read_panel", "season_phase"]

# A series needs this many observed training values (before its horizon) to be forecast;
# shorter ones are skipped and counted in ``Panel.skipped`` (the global model pads windows,
# so a series shorter than the window is still used).
MIN_TRAIN = 3

# Names a frequency column may use, to the seasonal period they imply.
PERIOD_NAMES = {
    "yearly": 1, "annual": 1, "y": 1, "a": 1,
    "quarterly": 4, "q": 4,
    "monthly": 12, "m": 12,
    "weekly": 52, "w": 52,
    "daily": 7, "d": 7,
    "hourly": 24, "h": 24,
}  # fmt: skip


@dataclass
class PanelSeries:
    """One series of a panel, sorted by time.

    Attributes:
        id: the series' id, as text.
        values: all its values (training part then test part), float64, NaN where missing.
        times: its time stamps (datetimes or numbers), same length.
        horizon: H, its test length and the steps forecast.
        season: its seasonal period m (1: none).
        static: its static covariates (numbers), possibly empty.
    """

    id: str
    values: np.ndarray
    times: pd.Index
    horizon: int
    season: int
    static: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_train(self) -> int:
        """Length of the training part (everything before the last ``horizon`` values)."""
        return len(self.values) - self.horizon

    @property
    def train(self) -> np.ndarray:
        """The training part's values."""
        return self.values[: self.n_train]

    @property
    def test(self) -> np.ndarray:
        """The test part's values (the last ``horizon``)."""
        return self.values[self.n_train :]

    def truncated(self, end: int) -> PanelSeries:
        """The same series cut to its first ``end`` values (a backtest's origin)."""
        return PanelSeries(
            self.id, self.values[:end], self.times[:end], self.horizon, self.season, self.static
        )


@dataclass
class Panel:
    """A set of series with their horizons, as read by :func:`read_panel`.

    Attributes:
        series: the usable series, in id order.
        skipped: ids of series too short to train on or forecast (see MIN_TRAIN).
        notes: what was repaired while reading (dropped duplicates, filled gaps).
        static_names: names of the static covariates.
    """

    series: list[PanelSeries]
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    static_names: list[str] = field(default_factory=list)

    def groups(self) -> dict[int, list[int]]:
        """Series positions by seasonal period: each group gets its own global model."""
        out: dict[int, list[int]] = {}
        for i, s in enumerate(self.series):
            out.setdefault(s.season, []).append(i)
        return dict(sorted(out.items()))

    def truncated(self, cut: int) -> Panel:
        """The panel with the last ``cut`` values of every series removed (backtests)."""
        keep = [s.truncated(max(0, len(s.values) - cut)) for s in self.series]
        usable = [s for s in keep if _observed_train(s) >= MIN_TRAIN]
        dropped = [s.id for s in keep if _observed_train(s) < MIN_TRAIN]
        return Panel(usable, self.skipped + dropped, list(self.notes), self.static_names)


def read_panel(
    source: str | Path | pd.DataFrame,
    *,
    id_col: str,
    time_col: str,
    target: str,
    horizon: int | None = None,
    horizon_col: str | None = None,
    horizons: str | Path | pd.DataFrame | None = None,
    season: int | None = None,
    season_col: str | None = None,
    static_cols: list[str] | None = None,
) -> Panel:
    """Read a long-format table (one row per series and time) into a :class:`Panel`.

    Rows are sorted by time within each series; exact duplicate rows are dropped (a note
    says how many); two different values at one time of one series are an error. Missing
    steps of a regular grid are inserted as NaN (filled by interpolation for training).

    Args:
        source: CSV path (compressed ones too) or DataFrame.
        id_col, time_col, target: the series id, time and value columns.
        horizon: one H for every series; or give ``horizon_col`` or ``horizons``.
        horizon_col: a column of the table holding each series' H (constant per series).
        horizons: a table (CSV path or DataFrame) with ``id_col`` and a column ``h`` or
            ``horizon`` (and optionally ``season``/``m`` or ``period``/``frequency``).
        season: one seasonal period for all; None takes ``season_col``, the horizons
            table's, or infers it from the time step (months 12, quarters 4, ...).
        season_col: a column with each series' period (a number or a name like MONTHLY).
        static_cols: numeric columns constant within a series, used as static covariates.

    Returns:
        The panel; series too short to forecast are listed in ``skipped``.
    """
    df = _frame(source)
    static_cols = list(static_cols or [])
    needed = [id_col, time_col, target, *static_cols]
    needed += [c for c in (horizon_col, season_col) if c]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    if missing:
        raise ValueError(
            f"the table has no column {missing[0]!r} (columns: {list(df.columns)}); "
            "name the id, time and target columns with --id-col, --time-col, --target"
        )
    info = _series_info(df, id_col, horizon, horizon_col, horizons, season_col)
    df = df.assign(**{id_col: df[id_col].astype(str)})
    df[target] = pd.to_numeric(df[target], errors="coerce")
    notes: list[str] = []
    series, skipped = [], []
    for sid, rows in df.groupby(id_col, sort=True):
        h, m_given = info.get(sid, (horizon, None))
        if h is None:
            raise ValueError(
                f"series {sid!r} has no horizon: give --horizon, or list it in the "
                "horizons file / column"
            )
        values, times, note = _clean_series(sid, rows, time_col, target)
        if note:
            notes.append(note)
        m = season or m_given or _infer_season(times)
        static = _static(sid, rows, static_cols)
        item = PanelSeries(sid, values, times, int(h), int(m), static)
        (series if _observed_train(item) >= MIN_TRAIN else skipped).append(item)
    if not series:
        raise ValueError(
            f"no series has {MIN_TRAIN} or more observed values before its horizon; give a "
            "shorter --horizon or longer series"
        )
    if skipped:
        shown = ", ".join(s.id for s in skipped[:5]) + ("..." if len(skipped) > 5 else "")
        notes.append(
            f"{len(skipped)} series skipped: fewer than {MIN_TRAIN} observed values before "
            f"the horizon ({shown})"
        )
    return Panel(series, [s.id for s in skipped], notes, static_cols)


def _frame(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}; give the long-format CSV with --csv")
    return pd.read_csv(path, float_precision=EXACT_FLOATS)


def _series_info(
    df: pd.DataFrame,
    id_col: str,
    horizon: int | None,
    horizon_col: str | None,
    horizons: str | Path | pd.DataFrame | None,
    season_col: str | None,
) -> dict[str, tuple[int | None, int | None]]:
    """Per-series (horizon, season) from a column or a side table; {} when neither is given."""
    if horizon is not None and (horizon < 1 or isinstance(horizon, bool)):
        raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
    table = None
    if horizons is not None:
        table = _frame(horizons)
        if id_col not in table.columns:
            raise ValueError(f"the horizons table has no id column {id_col!r}")
        h_name = next((c for c in ("h", "horizon", "H") if c in table.columns), None)
        if h_name is None:
            raise ValueError("the horizons table needs a column 'h' or 'horizon'")
        m_name = next(
            (c for c in ("season", "m", "period", "frequency") if c in table.columns), None
        )
        table = pd.DataFrame(
            {"id": table[id_col].astype(str), "h": table[h_name],
             "m": table[m_name] if m_name else None}
        )  # fmt: skip
    elif horizon_col or season_col:
        cols = {"h": horizon_col, "m": season_col}
        table = pd.DataFrame({"id": df[id_col].astype(str)})
        for key, col in cols.items():
            table[key] = df[col] if col else None
        table = table.drop_duplicates()
        if table["id"].duplicated().any():
            bad = table.loc[table["id"].duplicated(), "id"].iloc[0]
            raise ValueError(f"series {bad!r} has more than one horizon/season in its rows")
    if table is None:
        return {}
    out = {}
    for sid, h, m in table[["id", "h", "m"]].itertuples(index=False):
        hh = horizon if h is None or pd.isna(h) else _positive_int(h, f"horizon of {sid!r}")
        out[sid] = (hh, _season_value(m, sid))
    return out


def _positive_int(value: object, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number >= 1 or number != int(number):
        raise ValueError(f"the {what} must be a whole number >= 1, got {value!r}")
    return int(number)


def _season_value(value: object, sid: str) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        m = PERIOD_NAMES.get(value.strip().lower())
        if m is None:
            raise ValueError(
                f"series {sid!r}: unknown frequency {value!r}; use a number or one of "
                f"{sorted(set(PERIOD_NAMES))}"
            )
        return m
    return _positive_int(value, f"season of {sid!r}")


def _clean_series(
    sid: str, rows: pd.DataFrame, time_col: str, target: str
) -> tuple[np.ndarray, pd.Index, str | None]:
    """Sorted values and times of one series; duplicates dropped, grid gaps inserted."""
    times = _parse_times(rows[time_col], sid)
    frame = pd.DataFrame({"t": times, "y": rows[target].to_numpy(np.float64)})
    n_rows = len(frame)
    frame = frame.drop_duplicates()
    if frame["t"].duplicated().any():
        bad = frame.loc[frame["t"].duplicated(), "t"].iloc[0]
        raise ValueError(
            f"series {sid!r} has two different values at time {bad}; keep one row per "
            "series and time"
        )
    frame = frame.sort_values("t", kind="stable").reset_index(drop=True)
    notes = []
    if len(frame) < n_rows:
        notes.append(f"{n_rows - len(frame)} duplicate rows dropped")
    frame, filled = _regular_grid(frame)
    if filled:
        notes.append(f"{filled} missing time steps inserted as NaN")
    note = f"series {sid!r}: {'; '.join(notes)}" if notes else None
    return frame["y"].to_numpy(np.float64), pd.Index(frame["t"]), note


def _parse_times(col: pd.Series, sid: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col):
        return col.astype(np.float64).reset_index(drop=True)
    parsed = pd.to_datetime(col, errors="coerce")
    if parsed.isna().any():
        bad = col[parsed.isna()].iloc[0]
        raise ValueError(f"series {sid!r}: time {bad!r} is neither a number nor a date")
    return parsed.reset_index(drop=True)


def _regular_grid(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Insert the missing steps of a regular numeric grid (dates: monthly or finer steps)."""
    t = frame["t"]
    if len(t) < 3:
        return frame, 0
    if pd.api.types.is_datetime64_any_dtype(t):
        step = t.diff().median()
        if step < pd.Timedelta(days=27):  # fixed steps; calendar months are left as they are
            grid = pd.date_range(t.iloc[0], t.iloc[-1], freq=step)
        else:
            return frame, 0
    else:
        step = float(np.median(np.diff(t.to_numpy())))
        count = round((t.iloc[-1] - t.iloc[0]) / step) + 1
        if step <= 0 or count > 10 * len(t):
            return frame, 0
        grid = t.iloc[0] + step * np.arange(count)
        on_grid = np.abs((t.to_numpy() - t.iloc[0]) / step - np.round((t - t.iloc[0]) / step))
        if np.any(on_grid > 1e-3):
            return frame, 0
        frame = frame.assign(t=grid[np.round((t - t.iloc[0]) / step).astype(int)])
    if len(grid) == len(frame):
        return frame, 0
    full = frame.set_index("t").reindex(grid).rename_axis("t").reset_index()
    return full, len(grid) - len(frame)


def _infer_season(times: pd.Index) -> int:
    """Seasonal period from the time step: dates by their calendar step, fractional years
    by 1/step (1/12 -> 12, 1/4 -> 4), anything else 1."""
    if pd.api.types.is_datetime64_any_dtype(times):
        return infer_season(pd.DatetimeIndex(times))
    if len(times) < 2:
        return 1
    step = float(np.median(np.diff(np.asarray(times, dtype=np.float64))))
    for m in (12, 4, 52):
        if abs(step * m - 1) < 1e-3:
            return m
    return 1


def season_phase(times: pd.Index, season: int) -> np.ndarray:
    """Position within the season of each time, in [0, 1): the calendar covariate.

    Dates use the calendar (month of year for m=12, quarter for 4, weekday for 7, hour for
    24, ISO week for 52); numbers use their fractional part when they count years in steps
    of 1/m, else their rank modulo m.
    """
    n = len(times)
    if season <= 1:
        return np.zeros(n)
    if pd.api.types.is_datetime64_any_dtype(times):
        dt = pd.DatetimeIndex(times)
        by = {12: dt.month - 1, 4: dt.quarter - 1, 7: dt.dayofweek, 24: dt.hour}
        if season == 52:
            return ((dt.isocalendar().week.to_numpy() - 1) % 52) / 52.0
        if season in by:
            return np.asarray(by[season], dtype=np.float64) / season
        return (np.arange(n) % season) / season
    t = np.asarray(times, dtype=np.float64)
    frac = t - np.floor(t)
    if n >= 2 and np.any(frac > 1e-9):
        return np.round(frac * season) % season / season
    return (np.round(t) % season) / season


def _static(sid: str, rows: pd.DataFrame, cols: list[str]) -> np.ndarray:
    out = []
    for col in cols:
        vals = pd.to_numeric(rows[col], errors="coerce").dropna().unique()
        if len(vals) != 1:
            raise ValueError(
                f"static covariate {col!r} of series {sid!r} must be one number per series "
                f"(found {len(vals)} distinct values)"
            )
        out.append(float(vals[0]))
    return np.asarray(out, dtype=np.float64)


def _observed_train(s: PanelSeries) -> int:
    return int(np.isfinite(s.train).sum()) if s.n_train > 0 else 0
