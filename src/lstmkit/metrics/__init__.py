"""Metrics each task reports; one module per field (forecast, classification, language)."""

from lstmkit.metrics.forecast import forecast_metrics, mae, mase, r2, rmse, smape

__all__ = ["forecast_metrics", "mae", "mase", "r2", "rmse", "smape"]
