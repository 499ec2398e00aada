"""Forecaster: fit an ensemble of LSTM forecasters on a series, evaluate, predict, save, load."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd
import torch

from lstmkit.data.series import infer_season, next_times
from lstmkit.data.validate import check_values
from lstmkit.metrics.forecast import forecast_metrics
from lstmkit.seed import seed_everything
from lstmkit.tasks.forecast.baselines import naive, seasonal_naive
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import SeriesData, interpolate, load_series
from lstmkit.tasks.forecast.io import KIND, FittedForecast, load_forecast, save_forecast
from lstmkit.tasks.forecast.model import ForecastNet, l1_objective
from lstmkit.tasks.forecast.prep import Preprocessor

__all__ = ["Forecaster", "HeldOutForecasts"]

# What fit, predict and evaluate read: a CSV path, a DataFrame, or an already loaded series.
Source = str | Path | pd.DataFrame | SeriesData

# Share of the training part's windows held out (from its end) for early stopping.
VAL_FRACTION = 0.2


class Forecaster:
    """Forecast one or more columns of a series H steps ahead with an ensemble of LSTMs.

    The last ``horizon`` rows are the test part; everything is fitted on the rest. The
    validation windows for early stopping are the last ones of the training part, and their
    targets never overlap the windows trained on.

    Args:
        config: the settings; defaults to ``ForecastConfig()``.

    >>> df = pd.DataFrame({"y": np.sin(np.arange(120) / 3) + 2})
    >>> f = Forecaster(ForecastConfig(horizon=6, epochs=2, ensemble=1)).fit(df)
    >>> f.predict().shape
    (6, 1)
    """

    kind: ClassVar[str] = KIND

    def __init__(self, config: ForecastConfig | None = None) -> None:
        if config is not None and not isinstance(config, ForecastConfig):
            raise TypeError(f"config must be a ForecastConfig, got {type(config).__name__}")
        self.config = config or ForecastConfig()
        self.data: SeriesData | None = None
        self.prep: Preprocessor | None = None
        self.models: list[ForecastNet] = []
        self.histories: list[list[dict]] = []

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self,
        source: Source,
        *,
        checkpoints: Callable[[int], Path] | None = None,
        resume: bool = False,
    ) -> Forecaster:
        """Train on all but the last ``horizon`` rows of ``source``.

        Args:
            source: CSV path, DataFrame, or an already loaded :class:`SeriesData`.
            checkpoints: ``member -> folder`` for each ensemble member's training
                checkpoints (None: none are written).
            resume: continue an interrupted training from those folders (members whose
                folder holds no checkpoint yet start fresh).

        Returns:
            self, fitted.
        """
        cfg = self.config
        data = source if isinstance(source, SeriesData) else self._load(source)
        rows = None if data.times is None else [str(t) for t in data.times]
        check_values(data.values, data.columns, what="the series", row_names=rows, allow_nan=True)
        season = cfg.season or infer_season(_datetimes(data.times))
        n = len(data.values)
        n_train = n - cfg.horizon
        if cfg.season and cfg.season >= n_train:
            raise ValueError(
                f"--season {cfg.season} is not shorter than the {n_train} training rows, so "
                "no full season precedes the test part; give a shorter --season"
            )
        lookback = cfg.lookback or _auto_lookback(n_train, cfg.horizon, season)
        extra = season if cfg.seasonal_diff else 0
        need = lookback + extra + 2 * cfg.horizon
        if n < need:
            raise ValueError(
                f"the series has {n} rows but lookback {lookback} + horizon {cfg.horizon} needs "
                f"at least {need} (one training window plus a test part of {cfg.horizon} rows); "
                "pass a smaller lookback or horizon"
            )
        train = interpolate(data.values[:n_train])
        self.prep = Preprocessor.fit(
            train,
            data.missing.any(axis=0),
            num_targets=data.num_targets,
            lookback=lookback,
            horizon=cfg.horizon,
            season=season,
            log=cfg.log,
            deseasonalize=cfg.deseasonalize,
            seasonal_diff=cfg.seasonal_diff,
        )
        self.data = data
        x, a = self.prep.features(train, data.missing[:n_train])
        fit_ends, val_ends = _split_windows(
            self.prep.first_end, n_train - cfg.horizon - 1, cfg.horizon
        )
        train_xy = self.prep.windows(x, a, fit_ends)
        val_xy = self.prep.windows(x, a, val_ends) if len(val_ends) else None
        self.models, self.histories = [], []
        for member in range(cfg.ensemble):
            folder = None if checkpoints is None else checkpoints(member)
            again = resume and folder is not None and (folder / "checkpoint.json").is_file()
            model, history = self._train_member(
                cfg.seed + member, train_xy, val_xy, checkpoint_dir=folder, resume=again
            )
            self.models.append(model)
            self.histories.append(history)
        return self

    def _load(self, source: str | Path | pd.DataFrame) -> SeriesData:
        cfg = self.config
        return load_series(
            source,
            targets=cfg.targets,
            covariates=cfg.covariates,
            time_column=cfg.time_column,
            encode=cfg.encode,
        )

    def _train_member(
        self,
        seed: int,
        train_xy: tuple,
        val_xy: tuple | None,
        *,
        checkpoint_dir: Path | None = None,
        resume: bool = False,
    ) -> tuple:
        from lstmkit.train import TrainConfig, fit

        cfg, prep = self.config, self.prep
        seed_everything(seed)
        model = ForecastNet(
            prep.num_features,
            prep.num_targets,
            prep.horizon,
            hidden_size=cfg.hidden_size,
            num_layers=cfg.num_layers,
            dropout=cfg.dropout,
        )
        x, y = (torch.from_numpy(v) for v in train_xy)

        def batches(epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
            # Each epoch's order depends only on (seed, epoch), so a run reproduces exactly.
            gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
            order = torch.randperm(len(x), generator=gen)
            return [(x[i], y[i]) for i in order.split(cfg.batch_size)]

        val = None
        if val_xy is not None:
            vx, vy = (torch.from_numpy(v) for v in val_xy)
            val = list(zip(vx.split(256), vy.split(256)))
        tc = TrainConfig(
            epochs=cfg.epochs,
            optimizer="adam",
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            clip_norm=1.0,
            patience=cfg.patience if val is not None else None,
            seed=seed,
            progress=cfg.progress,
            checkpoint_dir=None if checkpoint_dir is None else str(checkpoint_dir),
        )
        result = fit(
            model, l1_objective, batches, tc, val_data=val, model_config=model.config, resume=resume
        )
        model.eval()
        return model, list(getattr(result, "history", []))

    # -- forecasting ---------------------------------------------------------------------
    def _forecast_from(self, values: np.ndarray, missing: np.ndarray, end: int) -> np.ndarray:
        """Ensemble forecast for the H steps after row ``end``, in raw units, shape (H, K)."""
        prep = self._fitted()
        x, _ = prep.features(values, missing)
        window = torch.from_numpy(prep.last_window(x, end))
        with torch.no_grad():
            outs = [m(window)[0].numpy().astype(np.float64) for m in self.models]
        return prep.inverse(np.mean(outs, axis=0), x, values, end)

    def predict(self, horizon: int | None = None, *, data: Source | None = None) -> pd.DataFrame:
        """Forecast past the end of the data.

        Args:
            horizon: steps to return, at most the trained horizon (default: all of it).
            data: a newer series with the same columns (CSV path, DataFrame or SeriesData)
                to forecast past the end of; default: the series it was fitted on. The
                model is not refitted: it reads the last lookback rows of ``data``.

        Returns:
            A DataFrame indexed by the future timestamps (or step numbers), one column per
            target.
        """
        prep = self._fitted()
        h = prep.horizon if horizon is None else horizon
        if isinstance(h, bool) or not isinstance(h, int) or not 1 <= h <= prep.horizon:
            shown = repr(horizon) if isinstance(horizon, (int, float)) else type(horizon).__name__
            raise ValueError(
                f"horizon must be an int in [1, {prep.horizon}] (the horizon trained for), got "
                f"{shown}; retrain with a longer horizon to forecast further (new data goes "
                "in predict(data=...))"
            )
        series = self._series(data, rows_after=0)
        values = interpolate(series.values)
        fc = self._forecast_from(values, series.missing, len(values) - 1)[:h]
        index = _future_index(series.times, len(values), h)
        return pd.DataFrame(fc, index=index, columns=series.targets)

    def evaluate(self, data: Source | None = None) -> dict[str, dict[str, dict[str, float]]]:
        """Metrics on the test part (the last H rows) for the model and both baselines.

        One forecast of length H from the row before the test part; the baselines use
        exactly the same history and are scored on the same points. Rows missing in the data
        are left out of the scores.

        Args:
            data: a series with the same columns whose last H rows to score (the model is not
                refitted); default: the series it was fitted on, whose last H rows it never
                trained on.

        Returns:
            ``{target: {"lstmkit": metrics, "naive": metrics, "seasonal_naive": metrics}}``,
            each metrics dict as :func:`lstmkit.metrics.forecast_metrics` returns.
        """
        return self.score(self.test_forecasts(data))

    def score(self, test: HeldOutForecasts) -> dict[str, dict[str, dict[str, float]]]:
        """The metrics of `evaluate` from forecasts `test_forecasts` already made."""
        forecasts, actual, train, observed = test
        m = self._fitted().season
        scores: dict[str, dict[str, dict[str, float]]] = {}
        for k, name in enumerate(self.data.targets):
            ok = observed[:, k]
            if not ok.any():
                raise ValueError(f"target {name!r} has no observed values in the test part")
            mase_m = m if len(train) > m else 1
            scores[name] = {
                label: forecast_metrics(actual[ok, k], fc[ok, k], train[:, k], mase_m)
                for label, fc in forecasts.items()
            }
        return scores

    def test_forecasts(self, data: Source | None = None) -> HeldOutForecasts:
        """Forecasts of the test part (the last H rows) by the model and the baselines.

        Args:
            data: as for `evaluate`.

        Returns:
            ``(forecasts, actual, train, observed)``: forecasts by name, each (H, K); the test
            actuals (H, K); the interpolated training targets (T_train, K); and the mask of
            test values that were observed (H, K).
        """
        prep = self._fitted()
        series = self._series(data, rows_after=prep.horizon)
        h, k = prep.horizon, series.num_targets
        n_train = len(series.values) - h
        train_values = interpolate(series.values[:n_train])
        # Pad with the last row so features() sees a full array; nothing after end is read.
        padded = np.concatenate([train_values, np.repeat(train_values[-1:], h, axis=0)])
        miss = series.missing.copy()
        miss[n_train:] = False
        model_fc = self._forecast_from(padded, miss, n_train - 1)
        train_y = train_values[:, :k]
        m = prep.season if n_train >= prep.season else 1
        forecasts = {
            "lstmkit": model_fc,
            "naive": naive(train_y, h),
            "seasonal_naive": seasonal_naive(train_y, h, m),
        }
        actual = series.values[n_train:, :k]
        return HeldOutForecasts(forecasts, np.nan_to_num(actual), train_y, ~np.isnan(actual))

    def _series(self, source: Source | None, *, rows_after: int) -> SeriesData:
        """The series fitted on, or ``source`` checked to fit the model with a full window
        before its last ``rows_after`` rows."""
        prep = self._fitted()
        if source is None:
            return self.data
        series = source if isinstance(source, SeriesData) else self._load(source)
        if series.columns != self.data.columns or series.num_targets != self.data.num_targets:
            raise ValueError(
                f"the data has the columns {series.columns} (targets {series.targets}) but this "
                f"forecaster was fitted on {self.data.columns} (targets {self.data.targets}); "
                "give a series with the same columns"
            )
        need = prep.first_end + 1 + rows_after
        if len(series.values) < need:
            raise ValueError(
                f"the data has {len(series.values)} rows but this forecaster needs at least "
                f"{need} (a lookback window of {prep.lookback} rows"
                + (f", {prep.season} for the seasonal differences" if prep.seasonal_diff else "")
                + (f" and a test part of {rows_after})" if rows_after else ")")
            )
        return series

    def _fitted(self) -> Preprocessor:
        if self.prep is None or not self.models:
            raise ValueError("this Forecaster is not fitted; call fit(data) or Forecaster.load")
        return self.prep

    # -- saving --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Save the fitted forecaster to ``directory`` as one artifact (see `io.save_forecast`).

        Returns:
            Path of its ``artifact.json``.
        """
        parts = FittedForecast(self.config, self._fitted(), self.models, self.data, self.histories)
        return save_forecast(directory, parts)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Forecaster:
        """Load a saved Forecaster without retraining; ArtifactError if it is corrupt or foreign."""
        parts = load_forecast(directory)
        forecaster = cls(parts.config)
        forecaster.prep, forecaster.models = parts.prep, parts.models
        forecaster.data, forecaster.histories = parts.data, parts.histories
        return forecaster


class HeldOutForecasts(NamedTuple):
    """`Forecaster.test_forecasts`: the test part's forecasts and what they are scored on."""

    forecasts: dict[str, np.ndarray]  # by model name, each (H, K)
    actual: np.ndarray  # (H, K), missing values as 0
    train: np.ndarray  # (T_train, K) the interpolated targets before the test part
    observed: np.ndarray  # (H, K) bool: which actuals were observed


def _auto_lookback(n_train: int, horizon: int, season: int) -> int:
    lookback = max(2 * horizon, season) if season <= 4 * horizon else 2 * horizon
    # Keep at least half of the training part as window positions, so there is data to fit.
    room = (n_train - horizon) // 2
    return max(1, min(lookback, room))


def _split_windows(first: int, last: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Window ends for fitting and for validation; validation targets come strictly later."""
    ends = np.arange(first, last + 1)
    n_val = math.floor(VAL_FRACTION * len(ends))
    if n_val < 2:
        return ends, ends[:0]
    val = ends[-n_val:]
    # Fit windows stop H steps before the first validation window so no target is in both.
    fit = ends[ends <= val[0] - horizon]
    return fit, val


def _datetimes(times: pd.Index | None) -> pd.DatetimeIndex | None:
    if times is None or not pd.api.types.is_datetime64_any_dtype(times):
        return None
    return pd.DatetimeIndex(times)


def _future_index(times: pd.Index | None, n: int, h: int) -> pd.Index:
    """Labels of the h steps after n rows: dates, integer keys, or row numbers n, n+1, ..."""
    dt = _datetimes(times)
    if dt is not None and len(dt) >= 3:
        return next_times(dt, h)
    if times is not None and pd.api.types.is_integer_dtype(times) and len(times) >= 2:
        step = int(times[-1] - times[-2])
        return pd.Index(times[-1] + step * np.arange(1, h + 1))
    return pd.RangeIndex(n, n + h)
