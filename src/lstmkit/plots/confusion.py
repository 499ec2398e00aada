"""Confusion-matrix picture for classification tasks (matplotlib object API, no backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_confusion_matrix"]


def plot_confusion_matrix(
    cm: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Draw a confusion matrix as a heatmap of row-normalised rates with the counts written in.

    Colours show the fraction of each true class (so small classes are as visible as big
    ones); the cell text gives the raw count.

    Args:
        cm: counts (K, K), true classes on rows, predictions on columns.
        class_names: K names for the axes.
        path: where to write the PNG (parent folders are created).
        title: figure title.

    Returns:
        The path written.
    """
    cm = np.asarray(cm, dtype=np.int64)
    k = len(class_names)
    if cm.shape != (k, k):
        raise ValueError(f"cm has shape {cm.shape} but there are {k} class names")
    totals = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)

    size = 2.5 + 0.45 * k
    # Figure() without pyplot needs no GUI backend, so this is safe in tests and on servers.
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(k), labels=[str(n) for n in class_names], rotation=45, ha="right")
    ax.set_yticks(range(k), labels=[str(n) for n in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            colour = "white" if rates[i, j] > 0.5 else "black"
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour, fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
