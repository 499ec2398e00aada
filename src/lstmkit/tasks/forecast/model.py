"""The forecasting network: a sequence encoder and one linear layer that emits the whole horizon."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.nn import SequenceEncoder

__all__ = ["ForecastNet", "l1_objective"]


class ForecastNet(nn.Module):
    """Direct multi-step forecaster: LSTM over the lookback window, a linear map to H×K values.

    Direct (one output per future step) rather than recursive: errors do not feed back into
    the inputs, and the covariates, unknown in the future, are only ever read from the past.

    Args:
        input_size: features per time step F (targets, covariates, missing indicators).
        num_targets: K, series forecast at once.
        horizon: H, steps forecast.
        hidden_size: LSTM width. Default 64.
        num_layers: stacked LSTM layers. Default 1.
        dropout: dropout between stacked layers and before the head. Default 0.0.

    Inputs: x of shape (B, L, F).
    Outputs: forecasts of shape (B, H, K).

    >>> net = ForecastNet(input_size=3, num_targets=1, horizon=5, hidden_size=8)
    >>> net(torch.zeros(2, 10, 3)).shape
    torch.Size([2, 5, 1])
    """

    def __init__(
        self,
        input_size: int,
        num_targets: int,
        horizon: int,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.config = {
            "input_size": input_size,
            "num_targets": num_targets,
            "horizon": horizon,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
        }
        # The encoder's own dropout acts between stacked layers only; the inputs are exact
        # measurements, not embeddings, so they are not dropped.
        self.encoder = SequenceEncoder(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, horizon * num_targets)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.encoder(x)  # (B, L, hidden)
        last = self.drop(out[:, -1])  # (B, hidden)
        return self.head(last).view(x.shape[0], self.config["horizon"], -1)  # (B, H, K)


def l1_objective(model: nn.Module, batch: Any, state: Any) -> tuple[Tensor, Any]:
    """Mean absolute error of one batch ``(x, y)``, for ``lstmkit.train.fit``.

    L1 rather than squared error: the reported metrics (MAE, sMAPE, MASE) are absolute, and
    a few outliers in a short series should not steer the whole fit.
    """
    x, y = batch
    return torch.nn.functional.l1_loss(model(x), y), state
