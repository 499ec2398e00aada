"""Sessions from any event log: read, filter, order, cut, split by time, encode as item ids.

The path is one straight line: ``read_events`` (a CSV or DataFrame, with the config's
columns) -> ``build_sessions`` (cancellations dropped, ordered by time then file order,
cut by session column or inactivity gap, repeats handled, short sessions dropped) ->
``time_split`` (test = sessions ending in the last N days, validation = the N days before,
training = the rest: every session lies wholly in one part) -> ``ItemVocabulary`` (built from
training sessions only; other parts lose the items it lacks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.data.registry import dataset_file

from .config import RecommendConfig

__all__ = [
    "ItemVocabulary",
    "Sessions",
    "build_sessions",
    "load_online_retail",
    "online_retail_config",
    "read_events",
    "read_item_table",
    "time_split",
]

DAY = 86400.0
_TRUE = {"1", "true", "yes", "y", "t"}


@dataclass
class Sessions:
    """Sessions of raw item ids, in order of their first event.

    Attributes:
        items: one list of item ids (strings) per session, in event order.
        ends: (N,) time of each session's last event, in seconds (file order if no time).
        keys: each session's name (its session id, or ``user#n``).
    """

    items: list[list[str]]
    ends: np.ndarray
    keys: list[str]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def events(self) -> int:
        """Events in all sessions."""
        return sum(len(s) for s in self.items)

    def subset(self, keep: Sequence[int] | np.ndarray) -> Sessions:
        """The sessions at the indices ``keep``, in that order."""
        idx = [int(i) for i in keep]
        return Sessions([self.items[i] for i in idx], self.ends[idx], [self.keys[i] for i in idx])

    def __add__(self, other: Sessions) -> Sessions:
        return Sessions(
            self.items + other.items,
            np.concatenate([self.ends, other.ends]),
            self.keys + other.keys,
        )


def read_events(source: str | os.PathLike[str] | pd.DataFrame, config: RecommendConfig) -> Sessions:
    """Read an event CSV (or DataFrame) and build its sessions as ``config`` says.

    Raises:
        FileNotFoundError / ValueError: a missing file, an empty one, a missing column, a
            time column that does not parse.
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        path = Path(source)
        if path.is_dir():
            raise ValueError(f"event CSV {str(path)!r} is a directory; give a CSV file")
        if not path.is_file():
            raise FileNotFoundError(f"event CSV {str(path)!r} does not exist")
        wanted = [c for c in _columns(config) if c is not None]
        text_cols = [config.item_col, config.session_col, config.user_col, config.cancel_col]
        try:
            frame = pd.read_csv(
                path,
                dtype={c: str for c in text_cols if c is not None},
                usecols=lambda c: c in wanted,
                keep_default_na=False,
                na_values=[""],
            )
        except pd.errors.EmptyDataError:
            raise ValueError(f"event CSV {str(path)!r} is empty") from None
        _require(frame, config, f"event CSV {str(path)!r}")
    return build_sessions(frame, config)


def build_sessions(frame: pd.DataFrame, config: RecommendConfig) -> Sessions:
    """Sessions from an event table with the columns ``config`` names (see `read_events`)."""
    _require(frame, config, "the event table")
    frame = frame.reset_index(drop=True)
    keep = frame[config.item_col].notna()
    group = config.session_col or config.user_col
    keep &= frame[group].notna()
    if config.quantity_col is not None:
        quantity = pd.to_numeric(frame[config.quantity_col], errors="coerce")
        keep &= quantity > 0
    if config.cancel_col is not None:
        keep &= ~frame[config.cancel_col].astype(str).str.strip().str.lower().isin(_TRUE)
    frame = frame[keep]
    if frame.empty:
        raise ValueError(
            "no events left after dropping rows without an item or session/user "
            "and cancelled or non-positive rows; check the column names"
        )
    times = _seconds(frame, config.time_col)
    table = pd.DataFrame(
        {
            "group": frame[group].astype(str).to_numpy(),
            "item": frame[config.item_col].astype(str).to_numpy(),
            "time": times,
            "row": np.arange(len(frame)),
        }
    )
    # Time then file order, per session or user: a stable sort on (group, time, row).
    table = table.sort_values(["group", "time", "row"], kind="stable")
    new = table["group"].ne(table["group"].shift()).to_numpy()
    if config.session_col is None:  # cut a user's events where they pause too long
        new = new | (table["time"].diff().to_numpy() > config.gap_minutes * 60.0)
    table["session"] = np.cumsum(new) - 1
    table = table[_repeat_mask(table, config.repeats)]
    return _assemble(table, config.session_col is None, config.min_session_length)


def _repeat_mask(table: pd.DataFrame, repeats: str) -> np.ndarray:
    """Which events stay under the ``repeats`` rule (see RecommendConfig)."""
    if repeats == "keep":
        return np.ones(len(table), dtype=bool)
    if repeats == "collapse":
        same = table["session"].eq(table["session"].shift()) & table["item"].eq(
            table["item"].shift()
        )
        return ~same.to_numpy()
    return ~table.duplicated(["session", "item"]).to_numpy()


def _assemble(table: pd.DataFrame, cut_from_users: bool, min_length: int) -> Sessions:
    """Sessions (ordered by their first event) from events tagged with a session number."""
    grouped = table.groupby("session", sort=False)
    sizes = grouped.size()
    long_enough = sizes[sizes >= min_length].index
    table = table[table["session"].isin(long_enough)]
    if table.empty:
        raise ValueError(
            f"no session has {min_length} or more events; lower "
            "--min-session-length or check the session columns"
        )
    grouped = table.groupby("session", sort=False)
    first = grouped[["time", "row"]].min().sort_values(["time", "row"], kind="stable")
    items_of = grouped["item"].agg(list)
    ends = grouped["time"].max()
    names = grouped["group"].first()
    keys, items = [], []
    counter: dict[str, int] = {}
    for sid in first.index:
        name = names[sid]
        if cut_from_users:
            counter[name] = counter.get(name, 0) + 1
            name = f"{name}#{counter[name]}"
        keys.append(name)
        items.append(items_of[sid])
    return Sessions(items, ends[first.index].to_numpy(dtype=float), keys)


def time_split(
    sessions: Sessions, test_days: float, val_days: float = 0.0
) -> tuple[Sessions, Sessions, Sessions]:
    """(train, validation, test) by each session's last event.

    Test: sessions ending after ``last - test_days``; validation: ending in the
    ``val_days`` before that; training: all earlier ones. A session is never cut, so no
    test event can reach training. Raises ValueError when a part would be empty.
    """
    last = float(sessions.ends.max())
    test_from = last - test_days * DAY
    val_from = test_from - val_days * DAY
    parts = (
        sessions.ends <= val_from,
        (sessions.ends > val_from) & (sessions.ends <= test_from),
        sessions.ends > test_from,
    )
    train, val, test = (sessions.subset(np.flatnonzero(p)) for p in parts)
    span = (last - float(sessions.ends.min())) / DAY
    for name, part in (("training", train), ("test", test)):
        if not len(part):
            raise ValueError(
                f"the {name} part is empty: the log spans {span:.1f} days; choose "
                f"--test-days (now {test_days:g}) and --val-days (now {val_days:g}) to fit"
            )
    return train, val, test


class ItemVocabulary:
    """Item ids <-> integers 1..V (0 pads), built from training sessions; counts their support.

    >>> vocab = ItemVocabulary.build([["a", "b"], ["b", "c"]])
    >>> vocab.encode(["b", "x", "c"]).tolist(), vocab.counts.tolist()
    ([2, 3], [0, 1, 2, 1])
    """

    def __init__(self, items: Sequence[str], counts: Sequence[int]):
        self.items = list(items)
        self.index = {item: i + 1 for i, item in enumerate(self.items)}
        self.counts = np.concatenate([[0], np.asarray(counts, dtype=np.int64)])  # (V + 1,)

    @classmethod
    def build(cls, sessions: Sequence[Sequence[str]], min_support: int = 1) -> ItemVocabulary:
        """Items of ``sessions`` with at least ``min_support`` events, in first-seen order."""
        counts: dict[str, int] = {}
        for session in sessions:
            for item in session:
                counts[item] = counts.get(item, 0) + 1
        kept = [item for item, n in counts.items() if n >= min_support]
        if not kept:
            raise ValueError(
                f"no item has {min_support} or more training events; lower --min-item-support"
            )
        return cls(kept, [counts[item] for item in kept])

    def __len__(self) -> int:
        return len(self.items)

    def encode(self, session: Sequence[str]) -> np.ndarray:
        """The known items of ``session`` as ids (unknown ones left out)."""
        return np.array([self.index[i] for i in session if i in self.index], dtype=np.int64)

    def encode_all(self, sessions: Sessions, min_length: int = 2) -> list[np.ndarray]:
        """Every session encoded; those left with fewer than ``min_length`` items dropped."""
        encoded = (self.encode(s) for s in sessions.items)
        return [s for s in encoded if len(s) >= min_length]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Item ids back to the item names."""
        return [self.items[int(i) - 1] for i in ids]


def read_item_table(path: str | os.PathLike[str], item_col: str | None = None) -> dict[str, str]:
    """Item -> description from a two-column CSV (item, description); for `predict`'s output."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if frame.shape[1] < 2:
        raise ValueError(
            f"item table {str(path)!r} needs two columns: the item and its description"
        )
    key = item_col if item_col in frame.columns else frame.columns[0]
    text = next(c for c in frame.columns if c != key)
    return dict(zip(frame[key], frame[text]))


def online_retail_config(**changes) -> RecommendConfig:
    """The default task's reading: a session = one invoice's distinct items in line order,
    cancellations (negative quantities: every line of a ``C`` invoice) dropped."""
    reading = dict(
        item_col="stock_code",
        session_col="invoice",
        time_col="timestamp",
        quantity_col="quantity",
        repeats="first",
    )
    return RecommendConfig(**{**reading, **changes})


def load_online_retail(config: RecommendConfig | None = None) -> Sessions:
    """The embedded UCI Online Retail invoices as sessions (see `online_retail_config`)."""
    return read_events(
        dataset_file("online_retail/events.csv.xz"), config or online_retail_config()
    )


def _columns(config: RecommendConfig) -> list[str | None]:
    return [
        config.item_col,
        config.session_col,
        config.user_col,
        config.time_col,
        config.quantity_col,
        config.cancel_col,
    ]


def _require(frame: pd.DataFrame, config: RecommendConfig, where: str) -> None:
    flags = (
        "--item-col",
        "--session-col",
        "--user-col",
        "--time-col",
        "--quantity-col",
        "--cancel-col",
    )
    for column, flag in zip(_columns(config), flags):
        if column is not None and column not in frame.columns:
            shown = ", ".join(map(str, frame.columns[:12]))
            raise ValueError(f"column {column!r} ({flag}) is not in {where} (columns: {shown})")
    if frame.empty:
        raise ValueError(f"{where} has a header but no rows")


def _seconds(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    """Event times in seconds: numbers as given (Unix seconds), text parsed as dates."""
    if column is None:
        return np.arange(len(frame), dtype=float)
    values = frame[column]
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().mean() > 0.5:  # mostly numbers: Unix seconds, and the rest are errors
        parsed, kind = numeric, "numbers"
    else:
        parsed, kind = pd.to_datetime(values, errors="coerce", format="mixed"), "dates"
    bad = parsed.isna()
    if bad.any():
        raise ValueError(
            f"time column {column!r} holds {kind}, but {int(bad.sum())} values are not, e.g. "
            f"{values[bad].iloc[0]!r}; fix them or name another --time-col"
        )
    if kind == "numbers":
        return numeric.to_numpy(dtype=float)
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
