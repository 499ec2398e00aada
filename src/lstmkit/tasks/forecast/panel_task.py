"""PanelForecaster: the Python API of global forecasting over a panel of series."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from lstmkit.tasks.forecast.global_model import GroupModel, fit_group
from lstmkit.tasks.forecast.panel import Panel
from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.panel_io import load_panel_model, save_panel_model
from lstmkit.tasks.forecast.scoring import MethodForecast

__all__ = ["PanelForecaster"]


class PanelForecaster:
    """One global model per seasonal group of a panel; quantile forecasts per series.

    Args:
        config: the settings; defaults to ``PanelConfig()``.

    >>> import pandas as pd
    >>> from lstmkit.tasks.forecast.panel import read_panel
    >>> rows = [(f"s{i}", t, 10 + i + np.sin(t)) for i in range(3) for t in range(30)]
    >>> panel = read_panel(pd.DataFrame(rows, columns=["id", "t", "y"]),
    ...                    id_col="id", time_col="t", target="y", horizon=4)
    >>> f = PanelForecaster(PanelConfig(max_steps=20, ensemble=1, refit=False)).fit(panel)
    >>> [q.shape for q in f.predict()]
    [(4, 9), (4, 9), (4, 9)]
    """

    def __init__(self, config: PanelConfig | None = None) -> None:
        if config is not None and not isinstance(config, PanelConfig):
            raise TypeError(f"config must be a PanelConfig, got {type(config).__name__}")
        self.config = config or PanelConfig()
        self.groups: list[GroupModel] = []
        self.panel: Panel | None = None
        self.seconds = 0.0

    def fit(self, panel: Panel) -> PanelForecaster:
        """Train each group's model on the training parts (all but each series' horizon)."""
        start = time.perf_counter()
        self.groups = [
            fit_group([panel.series[i] for i in rows], self.config)
            for rows in panel.groups().values()
        ]
        self.panel = panel
        self.seconds = time.perf_counter() - start
        return self

    def _fitted(self) -> Panel:
        if self.panel is None or not self.groups:
            raise ValueError("this PanelForecaster is not fitted; call fit(panel) or load(dir)")
        return self.panel

    def _quantiles(self, panel: Panel, at_end: bool) -> list[np.ndarray]:
        """Per series of ``panel`` (its order): quantiles after its training part or its end."""
        by_id = {s.id: k for k, s in enumerate(panel.series)}
        out: list[np.ndarray | None] = [None] * len(panel.series)
        for g in self.groups:
            idx = [by_id[i] for i in g.ids if i in by_id]
            if len(idx) != len(g.ids):
                lost = sorted(set(g.ids) - set(by_id))[:3]
                raise ValueError(
                    f"the panel lacks series {lost} this model was fitted on; give the same "
                    "series (new values may be appended)"
                )
            series = [panel.series[k] for k in idx]
            cuts = [len(s.values) if at_end else s.n_train for s in series]
            for k, q in zip(idx, g.forecast(series, cuts, self.config)):
                out[k] = q
        missing = [panel.series[k].id for k, q in enumerate(out) if q is None]
        if missing:
            raise ValueError(f"series {missing[:3]} were not in the panel this model was fitted on")
        return out

    def test_forecast(self, panel: Panel | None = None) -> MethodForecast:
        """Forecasts of each series' test part (its last horizon), read from its training part."""
        panel = panel or self._fitted()
        self._fitted()
        return MethodForecast.from_quantiles(self.config.levels, self._quantiles(panel, False))

    def predict(self, panel: Panel | None = None) -> list[np.ndarray]:
        """Quantiles (h_i, Q) of the h_i steps after the end of each series (default: the
        panel fitted on; a newer one with the same ids continues it without refitting)."""
        panel = panel or self._fitted()
        self._fitted()
        return self._quantiles(panel, True)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Save as one artifact (see `panel_io.save_panel_model`); returns its artifact.json."""
        return save_panel_model(directory, self.config, self.groups, self._fitted())

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> PanelForecaster:
        """Load a saved PanelForecaster without retraining."""
        cfg, groups, panel = load_panel_model(directory)
        forecaster = cls(cfg)
        forecaster.groups, forecaster.panel = groups, panel
        return forecaster
