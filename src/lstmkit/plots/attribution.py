"""Pictures of what an inspected model reads: a cell over text, attributions over the input."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from lstmkit.plots.gates import _save

__all__ = ["plot_attribution", "plot_text_activation"]


def plot_text_activation(
    chars: Sequence[str],
    values: np.ndarray,
    path: str | Path,
    *,
    title: str = "",
    width: int = 80,
) -> Path:
    """Each character on a background coloured by a cell's value (blue < 0 < red), as in
    Karpathy et al. (2015) fig. 4; lines break at newlines and after ``width`` characters.

    Args:
        chars: the passage's tokens (characters, or words for a word model).
        values: one value per token (T,), scaled by its largest magnitude.
        path: the PNG to write.
        title: the figure's title.
        width: characters per drawn line at most.

    Returns:
        The path written.
    """
    if len(chars) != len(values):
        raise ValueError(f"{len(chars)} tokens but {len(values)} values")
    scale = float(np.abs(values).max()) or 1.0
    cmap = colormaps["coolwarm"]
    lines, row, col = [], 0, 0
    for ch, v in zip(chars, values):
        if col + len(ch) > width:
            row, col = row + 1, 0
        lines.append((row, col, ch, v))
        col += max(1, len(ch))
        if ch.endswith("\n"):
            row, col = row + 1, 0
    rows = row + 1
    fig = Figure(figsize=(width * 0.11 + 0.4, rows * 0.22 + 0.7))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.35 / (rows * 0.22 + 0.7)))
    ax.set_xlim(0, width)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    for r, c, ch, v in lines:
        shown = ch.replace("\n", "\u21b5")
        ax.text(
            c, r + 0.5, shown, family="monospace", fontsize=8, va="center",
            bbox=dict(boxstyle="square,pad=0.05", fc=cmap(0.5 + 0.5 * v / scale), ec="none"),
        )  # fmt: skip
    fig.suptitle(title, fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_attribution(
    values: np.ndarray,
    path: str | Path,
    *,
    inputs: np.ndarray | None = None,
    feature_names: Sequence[str] | None = None,
    step_labels: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """Attributions of one sequence over its input: a heatmap (feature x step, diverging
    colours) under the input itself (numeric features as lines) and the per-step sum.

    Args:
        values: attributions (T, F).
        path: the PNG to write.
        inputs: the input (T, F) drawn above, for numeric features.
        feature_names: F names for the heatmap's rows (default "feature j").
        step_labels: T labels (tokens) for the x axis when short.
        title: the figure's title.

    Returns:
        The path written.
    """
    steps, features = values.shape
    names = list(feature_names or [f"feature {j}" for j in range(features)])
    panels = [inputs is not None, True, features > 1]
    heights = [2.0 if inputs is not None else 0, 1.6, min(6.0, 0.9 + 0.18 * features)]
    heights = [h for h, show in zip(heights, panels) if show]
    fig = Figure(figsize=(min(14.0, 4.5 + steps * 0.08), sum(heights) + 0.8), layout="constrained")
    axes = list(fig.subplots(len(heights), 1, sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})[:, 0])  # fmt: skip
    if inputs is not None:
        ax = axes.pop(0)
        for j in range(min(features, 8)):
            ax.plot(inputs[:, j], lw=1.0, label=names[j])
        ax.set_ylabel("input")
        ax.legend(fontsize=7, loc="upper left", ncol=min(4, features))
    per_step = values.sum(1)
    ax = axes.pop(0)
    ax.bar(range(steps), per_step, color=np.where(per_step >= 0, "C3", "C0"), width=0.9)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_ylabel("per step")
    if axes:
        ax = axes.pop(0)
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values.T, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound,
                          interpolation="nearest")  # fmt: skip
        ax.set_yticks(range(features), labels=names if features <= 24 else None, fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    if step_labels is not None and steps <= 60:
        ax.set_xticks(range(steps), labels=list(step_labels), fontsize=6, rotation=90)
    ax.set_xlabel("input step")
    fig.suptitle(title, fontsize=9, wrap=True)
    return _save(fig, path)
