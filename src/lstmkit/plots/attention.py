"""Attention matrices of an encoder-decoder: which source tokens each output step looked at."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_attention"]


def plot_attention(
    items: Sequence[tuple[np.ndarray, Sequence[str], Sequence[str]]],
    path: str | os.PathLike[str],
    *,
    title: str = "Attention",
    columns: int = 3,
) -> Path:
    """Draw one heatmap per item: output steps down, source tokens across, weight as colour.

    Args:
        items: (weights (T, S), the S source tokens, the T output tokens) per item; rows of
            weights are the steps' attention distributions (the last one usually "</s>").
        path: where to write the PNG (parent folders are created).
        title: figure title.
        columns: heatmaps per row of the figure.

    Returns:
        The path written.
    """
    if not items:
        raise ValueError("plot_attention needs at least one item")
    for i, (weights, source, output) in enumerate(items):
        shape = np.shape(weights)
        if shape != (len(output), len(source)):
            raise ValueError(
                f"item {i}: weights have shape {shape} but there are "
                f"{len(output)} output and {len(source)} source tokens"
            )
    cols = min(columns, len(items))
    rows = math.ceil(len(items) / cols)
    figure = Figure(figsize=(3.2 * cols, 3.0 * rows), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    image = None
    for ax, (weights, source, output) in zip(axes.flat, items):
        image = ax.imshow(np.asarray(weights), vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(source)), list(source), fontsize=8)
        ax.set_yticks(range(len(output)), list(output), fontsize=7)
        ax.tick_params(length=0)
    for ax in list(axes.flat)[len(items) :]:
        ax.set_axis_off()
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    figure.suptitle(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    return out
