"""Point-forecast accuracy: MAE, RMSE, sMAPE, MASE and R², on numpy arrays of any shape."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["forecast_metrics", "mae", "mase", "r2", "rmse", "smape"]


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check that two arrays match, are non-empty and finite; return them as float64."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true has shape {t.shape} but y_pred has shape {p.shape}; pass arrays of one shape"
        )
    if t.size == 0:
        raise ValueError("y_true and y_pred are empty; a metric needs at least one value")
    for name, a in (("y_true", t), ("y_pred", p)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or Inf; drop or fill those values first")
    return t, p


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error, mean |y - ŷ|.

    Args:
        y_true: actual values.
        y_pred: forecasts, same shape.

    Returns:
        The MAE, in the units of the series.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error, sqrt(mean (y - ŷ)²).

    Args:
        y_true: actual values.
        y_pred: forecasts, same shape.

    Returns:
        The RMSE, in the units of the series.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((t - p) ** 2)))


def smape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Symmetric mean absolute percentage error in percent, as in the M3/M4 competitions.

    sMAPE = 100 · mean(2 |y - ŷ| / (|y| + |ŷ|)); a term whose denominator is 0 (both values
    0) counts as 0, since the forecast is exact there.

    Args:
        y_true: actual values.
        y_pred: forecasts, same shape.

    Returns:
        The sMAPE in percent, between 0 and 200.
    """
    t, p = _pair(y_true, y_pred)
    den = np.abs(t) + np.abs(p)
    safe = np.where(den == 0, 1.0, den)
    return float(100.0 * np.mean(np.where(den == 0, 0.0, 2.0 * np.abs(t - p) / safe)))


def mase(y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman & Koehler, 2006).

    The MAE of the forecast divided by the in-sample MAE of the seasonal naive forecast on the
    training series, mean |y_t - y_{t-m}|; below 1 beats that naive forecast on average.

    Args:
        y_true: actual values of the test part.
        y_pred: forecasts, same shape.
        y_train: the training series, time along axis 0 (one column per target allowed).
        season: the seasonal period m (1 for the plain naive forecast).

    Returns:
        The MASE (unitless); inf when the training series is constant at lag m.
    """
    t, p = _pair(y_true, y_pred)
    tr = np.asarray(y_train, dtype=np.float64)
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"season must be an int >= 1, got {season!r}")
    if tr.shape[0] <= season:
        raise ValueError(
            f"y_train has {tr.shape[0]} values but MASE with season={season} needs more than "
            f"{season}; pass a longer training series or a smaller season"
        )
    scale = float(np.mean(np.abs(tr[season:] - tr[:-season])))
    err = float(np.mean(np.abs(t - p)))
    if scale == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / scale


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot, around the mean of y_true.

    Args:
        y_true: actual values.
        y_pred: forecasts, same shape.

    Returns:
        R² (1 is perfect, 0 matches predicting the mean, negative is worse); nan when y_true
        is constant.
    """
    t, p = _pair(y_true, y_pred)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot


def forecast_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, y_train: ArrayLike, season: int = 1
) -> dict[str, float]:
    """All five metrics at once, in the order the tables print them.

    Args:
        y_true: actual values of the test part.
        y_pred: forecasts, same shape.
        y_train: the training series (for MASE's scale).
        season: the seasonal period m of MASE.

    Returns:
        ``{"MAE": ..., "RMSE": ..., "sMAPE": ..., "MASE": ..., "R2": ...}``.
    """
    return {
        "MAE": mae(y_true, y_pred),
        "RMSE": rmse(y_true, y_pred),
        "sMAPE": smape(y_true, y_pred),
        "MASE": mase(y_true, y_pred, y_train, season),
        "R2": r2(y_true, y_pred),
    }
