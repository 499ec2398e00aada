"""The two global model kinds behind one interface: build, batch, objective, forecast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.tasks.forecast.panel_config import PanelConfig
from lstmkit.tasks.forecast.quantile_net import QuantileNet, masked_pinball
from lstmkit.tasks.forecast.windows import PanelWindows

__all__ = ["build", "forecast", "objective", "to_batch"]


def build(cfg: PanelConfig, win: PanelWindows, num_series: int, num_static: int) -> nn.Module:
    """A fresh network of the configured kind for windows like ``win``'s."""
    embed = (num_series, cfg.embedding) if cfg.embedding else (0, 0)
    if cfg.model == "deepar":
        from lstmkit.tasks.forecast.deepar import DeepARNet

        return DeepARNet(
            win.num_features, cfg.likelihood, cfg.hidden_size, cfg.num_layers, cfg.dropout,
            embed[0], embed[1], num_static, log=False,
        )  # fmt: skip
    return QuantileNet(
        win.num_features, win.horizon, list(cfg.levels), cfg.hidden_size, cfg.num_layers,
        cfg.dropout, embed[0], embed[1], num_static,
    )  # fmt: skip


def to_batch(window_batch: tuple, static: np.ndarray) -> tuple[Tensor, ...]:
    """``PanelWindows.batch`` output as tensors ``(x, y, mask, rows, static, future)``."""
    x, y, mask, _, rows, future = window_batch
    return (
        torch.from_numpy(x),
        torch.from_numpy(y),
        torch.from_numpy(mask),
        torch.from_numpy(rows),
        torch.from_numpy(static[rows]),
        torch.from_numpy(future),
    )


def objective(cfg: PanelConfig, levels: Tensor, weights: Tensor | None = None) -> Callable:
    """The training loss of the kind: pinball over the levels (each window weighted by its
    series' ``weights`` row when given), or the negative log-likelihood."""
    if cfg.model == "deepar":
        from lstmkit.tasks.forecast.deepar import deepar_objective

        return deepar_objective

    def pinball(model: nn.Module, batch: tuple, state: object) -> Tensor:
        x, y, mask, rows, static, _ = batch
        w = None if weights is None else weights[rows]
        return masked_pinball(model(x, rows, static), y, mask, levels, w)

    return pinball


def forecast(
    cfg: PanelConfig,
    net: nn.Module,
    x: np.ndarray,
    future: np.ndarray,
    rows: np.ndarray,
    static: np.ndarray,
    member: int,
) -> np.ndarray:
    """Quantiles (B, H, Q) relative to each window's level, in model units.

    The direct model emits them; the autoregressive one draws ``cfg.samples`` paths
    (seeded by the run's seed and the member) and takes their empirical quantiles.
    """
    xt, ft = torch.from_numpy(x), torch.from_numpy(future)
    rt, st = torch.from_numpy(rows), torch.from_numpy(static[rows])
    with torch.no_grad():
        if cfg.model == "deepar":
            from lstmkit.tasks.forecast.deepar import sample_paths

            gen = torch.Generator().manual_seed(cfg.seed * 1000 + member)
            paths = sample_paths(net, xt, ft, rt, st, cfg.samples, gen)  # (B, N, H)
            q = np.quantile(paths.numpy().astype(np.float64), cfg.levels, axis=1)
            return q.transpose(1, 2, 0)
        return net(xt, rt, st).numpy().astype(np.float64)
