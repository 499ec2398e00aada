"""Every picture lstmkit draws, as PNG files, with matplotlib's object API (no backend needed)."""

from .attention import plot_attention
from .confusion import plot_confusion_matrix
from .curves import LearningCurves, plot_learning_curves
from .forecast import plot_forecast

__all__ = ["LearningCurves", "plot_learning_curves"]
__all__ += ["plot_confusion_matrix"]
__all__ += ["plot_forecast"]
__all__ += ["plot_attention"]
