"""Preprocessing fitted on the training part only: log, scaling, seasonal profile, windows."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lstmkit.data.series import Standardizer, seasonal_profile, sliding_windows

__all__ = ["Preprocessor"]

# Log when every training value is positive and the largest is at least this many times the
# smallest: a series spanning that range (sales, traffic, passengers) usually grows by
# multiplying, and in logs its seasonal swing stops growing with its level.
LOG_RATIO = 3.0
# Deseasonalise when the seasonal profile explains at least this share of the detrended
# variance (Hyndman's seasonal strength; 0.64 is the threshold forecast::nsdiffs uses).
SEASONAL_STRENGTH = 0.64


@dataclass
class Preprocessor:
    """Turns raw columns into model features and model outputs back into raw units.

    Pipeline for each target: optional log, standardise, then either subtract the seasonal
    profile (position t mod m) or take seasonal differences z_t - z_{t-m}. Covariates are
    standardised; each column that had gaps adds a 0/1 indicator feature. In every window
    the targets' last input value is subtracted from their inputs and from the targets
    (the model forecasts change, not level), so a series may leave the training range.

    All attributes are plain lists and numbers so the fitted state saves as JSON.
    """

    num_targets: int
    lookback: int
    horizon: int
    season: int
    log: bool
    seasonal_diff: bool
    mean: list[float]
    std: list[float]
    profiles: list[list[float]] | None
    indicators: list[int]

    @classmethod
    def fit(
        cls,
        train: np.ndarray,
        gaps: np.ndarray,
        *,
        num_targets: int,
        lookback: int,
        horizon: int,
        season: int,
        log: bool | str = "auto",
        deseasonalize: bool | str = "auto",
        seasonal_diff: bool = False,
    ) -> Preprocessor:
        """Learn every statistic from the training part (already interpolated).

        Args:
            train: shape (T_train, K + C), no NaN.
            gaps: which columns had missing values anywhere, shape (K + C,) bool.
            num_targets: K.
            lookback: input steps per window.
            horizon: forecast steps.
            season: seasonal period m (1: none).
            log: True, False, or "auto" (see LOG_RATIO).
            deseasonalize: True, False, or "auto" (see SEASONAL_STRENGTH).
            seasonal_diff: model z_t - z_{t-m} instead of z_t (then no profile).

        Returns:
            The fitted preprocessor.
        """
        y = train[:, :num_targets]
        if log == "auto":
            log = bool(np.all(y > 0) and np.all(y.max(0) >= LOG_RATIO * y.min(0)))
        if log and np.any(y <= 0):
            raise ValueError("log transform needs positive targets; pass log=False (--no-log)")
        logged = _apply_log(train, num_targets, bool(log))
        scaler = Standardizer.fit(logged)
        z = scaler.transform(logged)[:, :num_targets]
        profiles = None
        if not seasonal_diff and season > 1 and deseasonalize:
            fitted = [seasonal_profile(z[:, k], season) for k in range(num_targets)]
            strong = [s >= SEASONAL_STRENGTH for _, s in fitted]
            if deseasonalize is True or any(strong):
                profiles = [p.tolist() for p, _ in fitted]
        return cls(
            num_targets=num_targets,
            lookback=lookback,
            horizon=horizon,
            season=season,
            log=bool(log),
            seasonal_diff=seasonal_diff,
            mean=scaler.mean.tolist(),
            std=scaler.std.tolist(),
            profiles=profiles,
            indicators=[int(i) for i in np.flatnonzero(gaps)],
        )

    @property
    def first_end(self) -> int:
        """Smallest index a window may end at (differencing eats the first m steps)."""
        return self.lookback - 1 + (self.season if self.seasonal_diff else 0)

    @property
    def num_features(self) -> int:
        """Features per time step F."""
        return len(self.mean) + len(self.indicators)

    def features(self, values: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model inputs for every step and the adjusted target series they start from.

        Args:
            values: interpolated columns, shape (T, K + C), rows from index 0 of the data.
            missing: where values were missing before interpolation, same shape.

        Returns:
            ``(x, a)``: inputs (T, F) and adjusted targets a (T, K) (NaN before first_end).
        """
        k = self.num_targets
        z = self._scaler.transform(_apply_log(values, k, self.log))
        a = z[:, :k] - self._seasonal(np.arange(len(z)))
        if self.seasonal_diff:
            m = self.season
            a = np.concatenate([np.full((m, k), np.nan), z[m:, :k] - z[:-m, :k]])
        x = np.concatenate([np.nan_to_num(a), z[:, k:], missing[:, self.indicators]], axis=1)
        return x.astype(np.float32), a

    def windows(
        self, x: np.ndarray, a: np.ndarray, ends: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training pairs for windows ending at ``ends``, each relative to its last level.

        Returns:
            inputs (N, L, F) and targets (N, H, K), float32.
        """
        inputs, targets = sliding_windows(x, a, ends, self.lookback, self.horizon)
        return self._relative(inputs, targets)

    def last_window(self, x: np.ndarray, end: int) -> np.ndarray:
        """The input window ending at index ``end``, shape (1, L, F), relative to its level."""
        inputs = x[None, end - self.lookback + 1 : end + 1]
        return self._relative(inputs, None)[0]

    def inverse(self, out: np.ndarray, x: np.ndarray, values: np.ndarray, end: int) -> np.ndarray:
        """Turn model outputs for the window ending at ``end`` back into raw units.

        Args:
            out: model output, shape (H, K).
            x: the inputs from :meth:`features`, for the window's last level.
            values: interpolated raw columns up to at least ``end``.
            end: the window's last input index.

        Returns:
            Forecasts for steps end+1 .. end+H, shape (H, K).
        """
        k, h = self.num_targets, self.horizon
        a = out + x[end, :k]  # undo the window-relative shift
        steps = np.arange(end + 1, end + 1 + h)
        if self.seasonal_diff:
            z_past = self._scaler.transform(_apply_log(values[: end + 1], k, self.log))[:, :k]
            z = np.concatenate([z_past, np.zeros((h, k))])
            for i, t in enumerate(steps):
                z[t] = a[i] + z[t - self.season]
        else:
            z = np.zeros((end + 1 + h, k))
            z[steps] = a + self._seasonal(steps)
        full = np.zeros((h, len(self.mean)))
        full[:, :k] = z[steps]
        raw = self._scaler.inverse(full)[:, :k]
        return np.exp(raw) if self.log else raw

    def to_dict(self) -> dict:
        """JSON-safe state."""
        return asdict(self)

    @property
    def _scaler(self) -> Standardizer:
        return Standardizer(np.asarray(self.mean), np.asarray(self.std))

    def _seasonal(self, steps: np.ndarray) -> np.ndarray:
        if self.profiles is None:
            return np.zeros((len(steps), self.num_targets))
        prof = np.asarray(self.profiles)  # (K, m)
        return prof[:, steps % self.season].T  # (len(steps), K)

    def _relative(
        self, inputs: np.ndarray, targets: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        k = self.num_targets
        level = inputs[:, -1:, :k].copy()  # (N, 1, K)
        inputs = inputs.copy()
        inputs[:, :, :k] -= level
        if targets is not None:
            targets = (targets - level).astype(np.float32)
        return inputs.astype(np.float32), targets


def _apply_log(values: np.ndarray, num_targets: int, log: bool) -> np.ndarray:
    if not log:
        return values
    out = values.astype(np.float64).copy()
    out[:, :num_targets] = np.log(out[:, :num_targets])
    return out
