"""The baselines every forecast must beat: naive (last value) and seasonal naive (last season)."""

from __future__ import annotations

import numpy as np

__all__ = ["naive", "seasonal_naive"]


def naive(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value: ŷ_{T+h} = y_T.

    Args:
        history: past values, shape (T,) or (T, K).
        horizon: steps to forecast.

    Returns:
        Forecasts of shape (horizon,) or (horizon, K).
    """
    history = np.asarray(history, dtype=np.float64)
    if len(history) == 0:
        raise ValueError("naive forecast needs at least one past value, got none")
    return np.repeat(history[-1:], horizon, axis=0)


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last full season: ŷ_{T+h} = y_{T+h-m·k}, k = ceil(h/m).

    Args:
        history: past values, shape (T,) or (T, K), with T >= season.
        horizon: steps to forecast.
        season: the period m; 1 gives the naive forecast.

    Returns:
        Forecasts of shape (horizon,) or (horizon, K).
    """
    history = np.asarray(history, dtype=np.float64)
    if season < 1 or len(history) < season:
        raise ValueError(
            f"seasonal naive with season={season} needs at least {season} past values, "
            f"got {len(history)}; pass a smaller season"
        )
    last = history[len(history) - season :]
    return last[np.arange(horizon) % season]
