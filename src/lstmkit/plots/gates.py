"""Pictures of a recurrent layer's gates: heatmaps over time and the saturation scatter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["plot_gate_heatmaps", "plot_saturation"]

_MARKERS = ("o", "^")  # forward, backward


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_gate_heatmaps(
    gates: Mapping[str, np.ndarray],
    path: str | Path,
    *,
    traces: Mapping[str, np.ndarray] | None = None,
    units: Sequence[int] = (),
    title: str = "",
    step_labels: Sequence[str] | None = None,
) -> Path:
    """Heatmaps of gates over time, one row each, then line plots of chosen units' c and h.

    Args:
        gates: name -> activations (T, H) of one sequence: gates in [0, 1] (i, f, o, ...)
            on viridis, anything else (an RNN's h) on a diverging map around 0.
        path: the PNG to write.
        traces: name -> (T, H) unbounded states (c, h) drawn for ``units`` only.
        units: the units whose traces are drawn.
        title: the figure's title.
        step_labels: a label per step (characters, words) shown on the x axis when short.

    Returns:
        The path written.
    """
    traces = dict(traces or {}) if units else {}
    steps = next(iter(gates.values())).shape[0]
    rows = len(gates) + len(traces)
    fig = Figure(figsize=(min(14.0, 4.0 + steps * 0.06), 1.9 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, gates.items()):
        if values.min() >= 0 and values.max() <= 1:  # a gate: the unit interval
            colours = dict(cmap="viridis", vmin=0.0, vmax=1.0)
        else:  # a state (an Elman RNN's h): diverging around 0
            bound = float(np.abs(values).max()) or 1.0
            colours = dict(cmap="RdBu_r", vmin=-bound, vmax=bound)
        image = ax.imshow(values.T, aspect="auto", interpolation="nearest", **colours)
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    for ax, (name, values) in zip(axes[len(gates) :], traces.items()):
        for unit in units:
            ax.plot(values[:, unit], lw=1.2, label=f"unit {unit}")
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylabel(name)
        ax.legend(fontsize=7, loc="upper right", ncol=min(4, len(units)))
    if step_labels is not None and steps <= 80:
        shown = [repr(s)[1:-1] if s.isspace() else s for s in step_labels]
        axes[-1].set_xticks(range(steps), labels=shown, fontsize=6)
    axes[-1].set_xlabel("step")
    axes[0].set_title(title)
    return _save(fig, path)


def plot_saturation(per_unit: pd.DataFrame, path: str | Path, *, title: str = "") -> Path:
    """Karpathy et al.'s saturation scatter: per unit, the fraction of steps left-saturated
    (x) against right-saturated (y); a panel per gate (columns) and module (rows, when the
    table has a ``module`` column), colour by layer, marker by direction.

    Args:
        per_unit: rows with ``layer, direction, gate, left, right`` (`inspect.saturation`).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        The path written.
    """
    gates = list(dict.fromkeys(per_unit["gate"]))
    modules = list(dict.fromkeys(per_unit["module"])) if "module" in per_unit else [None]
    fig = Figure(figsize=(3.0 * len(gates) + 0.6, 3.0 * len(modules) + 0.5), layout="constrained")
    grid = fig.subplots(len(modules), len(gates), squeeze=False)
    layers = sorted(per_unit["layer"].unique())
    for row, module in zip(grid, modules):
        part = per_unit if module is None else per_unit[per_unit["module"] == module]
        for ax, gate in zip(row, gates):
            _scatter(ax, part[part["gate"] == gate], layers)
            ax.set_title(f"{module}: {gate}" if module else f"{gate} gate", fontsize=9)
        row[0].set_ylabel("fraction right-saturated (> 0.9)", fontsize=8)
        row[-1].legend(fontsize=7, loc="upper right")
    for ax in grid[-1]:
        ax.set_xlabel("fraction left-saturated (< 0.1)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _scatter(ax, part: pd.DataFrame, layers: list[int]) -> None:
    for (layer, direction), group in part.groupby(["layer", "direction"]):
        ax.scatter(
            group["left"], group["right"], s=14, alpha=0.7, c=f"C{layers.index(layer) % 10}",
            marker=_MARKERS[int(direction) % 2],
            label=f"layer {layer}" + (" backward" if direction else ""),
        )  # fmt: skip
    ax.plot([0, 1], [1, 0], color="0.8", lw=0.8, zorder=0)  # left + right = 1
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
