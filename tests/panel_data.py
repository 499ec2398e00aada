"""A synthetic long-format panel for the panel forecasting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def seasonal_panel(n_series=12, noise=0.15, seed=0, growth=0.0) -> pd.DataFrame:
    """Monthly series of unequal length and start sharing one seasonal pattern; with
    ``growth`` each grows by a rate drawn from [growth / 2, growth] per month."""
    rng = np.random.default_rng(seed)
    pattern = 1 + 0.4 * np.sin(2 * np.pi * np.arange(12) / 12)
    rows = []
    for i in range(n_series):
        n = int(rng.integers(48, 96))
        start = pd.Timestamp(2000 + int(rng.integers(0, 6)), int(rng.integers(1, 13)), 1)
        times = pd.date_range(start, periods=n, freq="MS")
        level = rng.uniform(20, 2000)
        rate = rng.uniform(growth / 2, growth)
        y = level * pattern[times.month - 1] * np.exp(rate * np.arange(n) + rng.normal(0, noise, n))
        rows += [(f"s{i:02d}", t.strftime("%Y-%m-%d"), v) for t, v in zip(times, y)]
    return pd.DataFrame(rows, columns=["sid", "date", "y"])
