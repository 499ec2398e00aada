"""Panel picture: a few series' history, test actuals, the model's median and its 80/95% bands."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lstmkit.io import atomic_write
from lstmkit.tasks.forecast.panel import Panel
from lstmkit.tasks.forecast.scoring import MethodForecast

__all__ = ["plot_panel"]


def plot_panel(
    panel: Panel,
    forecasts: dict[str, MethodForecast],
    path: str | Path,
    *,
    model: str = "lstmkit",
    baseline: str | None = None,
    count: int = 4,
) -> Path:
    """Draw ``count`` series (spread over the panel) with the model's intervals shaded.

    Args:
        panel: the panel scored.
        forecasts: by method; ``model``'s intervals are drawn as bands.
        path: the PNG to write (atomically).
        model: the method drawn with its bands.
        baseline: another method drawn as a dashed line (None: none).
        count: series drawn.

    Returns:
        The path written.
    """
    picks = np.unique(
        np.linspace(0, len(panel.series) - 1, min(count, len(panel.series))).astype(int)
    )
    fig = Figure(figsize=(11, 2.8 * len(picks)))
    fc = forecasts[model]
    for row, i in enumerate(picks):
        s = panel.series[i]
        ax = fig.add_subplot(len(picks), 1, row + 1)
        start = max(0, s.n_train - 4 * s.horizon - 2 * s.season)
        t_hist, t_test = np.arange(start, s.n_train), np.arange(s.n_train, len(s.values))
        ax.plot(t_hist, s.values[start : s.n_train], color="0.35", lw=1.1, label="history")
        ax.plot(t_test, s.test, color="black", lw=1.5, label="test actual")
        for cover, alpha in ((95, 0.15), (80, 0.3)):
            if cover in fc.intervals:
                lo, hi = fc.intervals[cover]
                ax.fill_between(t_test, lo[i], hi[i], color="tab:red", alpha=alpha, lw=0,
                                label=f"{model} {cover}%")  # fmt: skip
        ax.plot(t_test, fc.point[i], color="tab:red", lw=1.8, label=f"{model} median")
        if baseline and baseline in forecasts:
            ax.plot(t_test, forecasts[baseline].point[i], color="tab:blue", lw=1.2, ls="--",
                    label=baseline)  # fmt: skip
        ax.set_title(f"{s.id} (h={s.horizon}, m={s.season})", fontsize=10)
        ax.grid(alpha=0.3)
        if row == 0:
            ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    atomic_write(Path(path), buf.getvalue())
    return Path(path)
