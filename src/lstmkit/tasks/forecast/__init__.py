"""Forecasting task: CSV series in, LSTM forecasts, metrics against baselines, plot out."""

from lstmkit.tasks.forecast.baselines import naive, seasonal_naive
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import SeriesData, load_series
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.task import Forecaster, HeldOutForecasts

__all__ = [
    "ForecastConfig",
    "ForecastNet",
    "Forecaster",
    "HeldOutForecasts",
    "SeriesData",
    "load_series",
    "naive",
    "seasonal_naive",
]
