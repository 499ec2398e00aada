"""Forecast picture: history, test actuals, the model's forecast and the seasonal-naive one."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lstmkit.io import atomic_write

__all__ = ["plot_forecast"]


def plot_forecast(
    history: pd.Series,
    actual: pd.Series,
    forecasts: dict[str, pd.Series],
    path: str | Path,
    *,
    title: str = "Forecast",
    ylabel: str = "",
) -> Path:
    """Draw one target's history, the test actuals and each forecast over the test part.

    Args:
        history: the training part (index: timestamps or steps); only its tail of about
            four test lengths is drawn, so the test part stays readable.
        actual: the test actuals, indexed like the forecasts.
        forecasts: label to forecast; the first is drawn boldest (the model).
        path: where to write the PNG (parent folders are created; written atomically).
        title: figure title.
        ylabel: y-axis label (the column's name).

    Returns:
        The path written.
    """
    if not forecasts:
        raise ValueError("forecasts is empty; pass at least the model's forecast")
    tail = max(4 * len(actual), 48)
    history = history.iloc[-tail:]
    # Figure() without pyplot needs no GUI backend, so this is safe in tests and on servers.
    fig = Figure(figsize=(10, 4.5))
    ax = fig.add_subplot()
    ax.plot(history.index, history.to_numpy(), color="0.35", lw=1.2, label="history")
    ax.plot(actual.index, actual.to_numpy(), color="black", lw=1.6, label="test actual")
    styles = [
        {"color": "tab:red", "lw": 2.0},
        {"color": "tab:blue", "lw": 1.3, "ls": "--"},
        {"color": "tab:green", "lw": 1.3, "ls": ":"},
    ]
    for (label, series), style in zip(forecasts.items(), styles * len(forecasts)):
        ax.plot(series.index, np.asarray(series, dtype=float), label=label, **style)
    ax.axvline(actual.index[0], color="0.6", lw=0.8, ls="--")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())
    return path
