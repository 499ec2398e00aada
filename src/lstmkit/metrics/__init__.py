"""Metrics each task reports; one module per field (forecast, classification, language)."""

from lstmkit.metrics.classification import (
    accuracy,
    classification_report,
    confusion_matrix,
    macro_f1,
)
from lstmkit.metrics.forecast import forecast_metrics, mae, mase, r2, rmse, smape
from lstmkit.metrics.language import bits_per_char, cross_entropy, perplexity
from lstmkit.metrics.translation import (
    bleu,
    chrf,
    edit_distance,
    g2p_scores,
    sequence_error_rate,
    token_error_rate,
)

__all__ = ["forecast_metrics", "mae", "mase", "r2", "rmse", "smape"]
__all__ += ["accuracy", "classification_report", "confusion_matrix", "macro_f1"]
__all__ += ["bits_per_char", "cross_entropy", "perplexity"]
__all__ += ["bleu", "chrf", "edit_distance", "g2p_scores", "sequence_error_rate"]
__all__ += ["token_error_rate"]
