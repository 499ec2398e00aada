"""ForecastConfig: every setting of a forecasting run, checked once and saved with the model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ForecastConfig"]


@dataclass
class ForecastConfig:
    """Settings of a forecasting run. The defaults are meant for series they were not tuned on.

    Args:
        targets: columns to forecast; None takes the first numeric column.
        covariates: other input columns, read only from the past; None takes every other
            numeric column, [] none.
        time_column: the time column; None detects it.
        encode: one-hot encode non-numeric covariates instead of rejecting them. Default False.
        horizon: H, steps forecast at once, and the size of the test part. Default 24.
        lookback: input steps per window; None picks max(2H, m) when m <= 4H, else 2H,
            shrunk so that at least half the training part still yields windows.
        season: the seasonal period m for MASE, the seasonal-naive baseline and the profile;
            None infers it from the timestamps (daily 7, monthly 12, ...).
        log: log-transform the targets: True, False or "auto" (all positive and spanning a
            factor 3 or more). Default "auto".
        deseasonalize: subtract the seasonal profile: True, False or "auto" (seasonal
            strength >= 0.64). Default "auto".
        seasonal_diff: model z_t - z_{t-m} instead. Default False.
        hidden_size: LSTM width. Default 64.
        num_layers: stacked LSTM layers. Default 1.
        dropout: dropout between layers and before the head. Default 0.0.
        epochs: most epochs per model. Default 200.
        patience: early stopping patience on the validation loss. Default 20.
        lr: Adam learning rate. Default 3e-3.
        batch_size: windows per batch. Default 32.
        weight_decay: Adam weight decay. Default 0.0.
        ensemble: models trained from different seeds; their forecasts are averaged.
            Default 5.
        seed: seed of the first model (model i uses seed + i). Default 0.
        progress: show the training progress bar. Default False.
    """

    targets: list[str] | None = None
    covariates: list[str] | None = None
    time_column: str | None = None
    encode: bool = False
    horizon: int = 24
    lookback: int | None = None
    season: int | None = None
    log: bool | str = "auto"
    deseasonalize: bool | str = "auto"
    seasonal_diff: bool = False
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    epochs: int = 200
    patience: int = 20
    lr: float = 3e-3
    batch_size: int = 32
    weight_decay: float = 0.0
    ensemble: int = 5
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.targets, str):
            self.targets = [self.targets]
        if isinstance(self.covariates, str):
            self.covariates = [self.covariates]
        for name, low in (
            ("horizon", 1),
            ("hidden_size", 1),
            ("num_layers", 1),
            ("epochs", 1),
            ("patience", 1),
            ("batch_size", 1),
            ("ensemble", 1),
            ("seed", 0),
        ):
            _check_int(name, getattr(self, name), low)
        for name in ("lookback", "season"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        for name in ("log", "deseasonalize"):
            if getattr(self, name) not in (True, False, "auto"):
                raise ValueError(
                    f"{name} must be True, False or 'auto', got {getattr(self, name)!r}"
                )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict, saved beside the model."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForecastConfig:
        """Rebuild from :meth:`to_dict` output, rejecting unknown fields."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ForecastConfig fields {unknown}")
        return cls(**data)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
