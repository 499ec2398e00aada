"""Recall@k over k for several recommenders on one test set (matplotlib object API, no backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

__all__ = ["plot_recall_at_k"]


def plot_recall_at_k(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: str | Path,
    *,
    title: str = "Recall@k",
) -> Path:
    """Draw one Recall@k line per recommender (model and baselines of the same run).

    Args:
        curves: name -> (ks, recall at each k).
        path: where to write the PNG (parent folders are created).
        title: figure title.

    Returns:
        The path written.
    """
    if not curves:
        raise ValueError("plot_recall_at_k needs at least one curve")
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for name, (ks, recalls) in curves.items():
        if len(ks) != len(recalls):
            raise ValueError(f"curve {name!r} has {len(ks)} ks but {len(recalls)} recalls")
        ax.plot(list(ks), list(recalls), marker="o", markersize=2.5, label=name)
    ax.set_xlabel("k (length of the recommendation list)")
    ax.set_ylabel("Recall@k (share of next items in the top k)")
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
