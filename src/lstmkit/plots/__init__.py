"""Every picture lstmkit draws, as PNG files, with matplotlib's object API (no backend needed)."""

from .curves import plot_learning_curves

__all__ = ["plot_learning_curves"]
