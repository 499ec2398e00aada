"""RecommendConfig: every setting of a next-item recommendation run, checked once, saved with it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["CELLS", "LOSSES", "REPEATS", "RecommendConfig"]

LOSSES = ("ce", "sampled", "bpr-max")
REPEATS = ("keep", "collapse", "first")
CELLS = ("lstm", "gru")
DEFAULT_TEST_DAYS = 30.0  # the test period of a log spanning 300 days or more


@dataclass
class RecommendConfig:
    """Settings of a session-based recommender: how events become sessions, the split, the model.

    Reading events (any CSV of user actions, one row an event):
        item_col: the item column. Default "item".
        session_col: a column naming each event's session (an invoice, a visit); None cuts
            sessions from ``user_col`` by ``gap_minutes`` of inactivity. Default "session".
        user_col: the user column, used when ``session_col`` is None. Default None.
        time_col: the time column (numbers are Unix seconds, text is parsed as dates); None
            keeps the file order and needs ``session_col``. Default "time".
        gap_minutes: a pause longer than this between a user's events starts a new
            session. Default 30.
        quantity_col: rows whose value here is not positive (returns, cancellations) are
            dropped; None keeps all. Default None.
        cancel_col: rows where this column is true (1/true/yes/y/t) are dropped. Default None.
        repeats: an item repeated inside a session: "keep" every event, "collapse" runs of
            the same item into one, or "first": keep only each item's first occurrence (a
            basket's distinct items in order). Default "collapse".
        min_session_length: shorter sessions are dropped (after every filter). Default 2.
        min_item_support: items with fewer training events are dropped. Default 1.
    The split (by each session's last event):
        test_days: sessions ending in the last this many days are the test set. None (the
            default): 30 days, or a tenth of the log's span when it covers less than 300
            days (without a time column, times are row numbers: the last tenth of the file);
            resolved by `resolve_split` when the log is read.
        val_days: sessions ending in the this many days before them are the validation set,
            which picks the best epoch; 0: none. Default: ``test_days``.
        refit: after choosing the number of epochs on the validation set, train a fresh
            model on training + validation sessions for that many epochs (the baselines see
            the same sessions). Default True.
    The model:
        cell: "gru" or "lstm" (lstmkit's layers). Default "gru".
        embedding_dim: item embedding width. Default 128.
        hidden_size: recurrent units. Default 128.
        num_layers: stacked layers. Default 1.
        dropout: on the item embeddings and on the recurrent output. Default 0.2.
        tie_embeddings: score items with the input embeddings (needs embedding_dim ==
            hidden_size): fewer parameters, often better. Default False.
        loss: "ce" (full softmax cross-entropy over all items), "sampled" (softmax over the
            batch's targets and ``negatives`` popularity-sampled items, shared by the
            batch, with the log-q correction) or "bpr-max" (Hidasi & Karatzoglou 2018, on
            the same candidates). Default "ce".
        negatives: extra sampled negatives per batch for "sampled" and "bpr-max". Default 1024.
        sample_alpha: negatives are drawn with probability ∝ support ** alpha. Default 0.75.
        bpr_reg: BPR-max's score regulariser λ. Default 1.0.
    Training (session-parallel mini-batches):
        batch_size: sessions side by side, each slot carrying one session's state until it
            ends. Default 128.
        steps: time steps per mini-batch (back-propagation through that many steps, within
            sessions). Default 8.
        epochs: most epochs. Default 10.
        max_minutes: training time budget in minutes (selection and refit together); None:
            none. Default None.
        lr: Adam learning rate (cosine-decayed). Default 2e-3.
        weight_decay: Adam weight decay. Default 0.0.
        shuffle: shuffle the order sessions enter the slots each epoch. Default True.
        patience: stop selection after this many epochs without a better validation
            MRR@20. Default 2.
        ks: cut-offs k of the metrics. Default (5, 10, 20).
        seed: random seed. Default 0.
        progress: show training progress bars. Default False.
    """

    item_col: str = "item"
    session_col: str | None = "session"
    user_col: str | None = None
    time_col: str | None = "time"
    gap_minutes: float = 30.0
    quantity_col: str | None = None
    cancel_col: str | None = None
    repeats: str = "collapse"
    min_session_length: int = 2
    min_item_support: int = 1
    test_days: float | None = None
    val_days: float | None = None
    refit: bool = True
    cell: str = "gru"
    embedding_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.2
    tie_embeddings: bool = False
    loss: str = "ce"
    negatives: int = 1024
    sample_alpha: float = 0.75
    bpr_reg: float = 1.0
    batch_size: int = 128
    steps: int = 8
    epochs: int = 10
    max_minutes: float | None = None
    lr: float = 2e-3
    weight_decay: float = 0.0
    shuffle: bool = True
    patience: int = 2
    ks: tuple[int, ...] = (5, 10, 20)
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        for name, choices in (("repeats", REPEATS), ("cell", CELLS), ("loss", LOSSES)):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        if self.session_col is None and self.user_col is None:
            raise ValueError(
                "give a session column (--session-col) or a user column "
                "(--user-col) to cut sessions from by inactivity"
            )
        if self.session_col is None and self.time_col is None:
            raise ValueError("cutting sessions by inactivity needs a time column (--time-col)")
        positive = ("min_session_length", "min_item_support", "embedding_dim", "hidden_size")
        positive += ("num_layers", "negatives", "batch_size", "steps", "epochs", "patience")
        for name in positive:
            _check_int(name, getattr(self, name), 1)
        _check_int("seed", self.seed, 0)
        if self.min_session_length < 2:
            raise ValueError(
                f"min_session_length must be at least 2 (a prefix and its next item), "
                f"got {self.min_session_length}"
            )
        if self.val_days is None:
            self.val_days = self.test_days
        for name in ("gap_minutes", "test_days", "lr"):
            if name != "test_days" or self.test_days is not None:
                _check_number(name, getattr(self, name), positive=True)
        for name in ("val_days", "weight_decay", "sample_alpha", "bpr_reg"):
            if name != "val_days" or self.val_days is not None:
                _check_number(name, getattr(self, name), positive=False)
        if self.max_minutes is not None:
            _check_number("max_minutes", self.max_minutes, positive=True)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.tie_embeddings and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"tie_embeddings needs embedding_dim == hidden_size, got "
                f"{self.embedding_dim} and {self.hidden_size}"
            )
        self.ks = tuple(self.ks)
        if not self.ks or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.ks
        ):
            raise ValueError(f"ks must be positive integers, got {self.ks!r}")

    def resolve_split(self, span_days: float) -> None:
        """Fix an unset ``test_days`` (and ``val_days``) for a log covering ``span_days``:
        30 days, or a tenth of the span when that is shorter."""
        if self.test_days is None:
            self.test_days = min(DEFAULT_TEST_DAYS, span_days / 10) or DEFAULT_TEST_DAYS
        if self.val_days is None:
            self.val_days = self.test_days

    @property
    def k(self) -> int:
        """The main cut-off: the largest of ``ks`` (20 by default)."""
        return max(self.ks)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON data (what the artifact stores)."""
        data = dataclasses.asdict(self)
        data["ks"] = list(self.ks)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommendConfig:
        """Rebuild a config from `to_dict` output; unknown names are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown RecommendConfig fields {unknown}")
        return cls(**{**data, "ks": tuple(data.get("ks", (5, 10, 20)))})


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")


def _check_number(name: str, value: Any, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value}")
