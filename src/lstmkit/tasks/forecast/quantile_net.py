"""The global direct model: an LSTM over a window, monotone multi-horizon quantiles out."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from lstmkit.nn import SequenceEncoder

__all__ = ["QuantileNet", "masked_pinball", "monotone_quantiles"]


def monotone_quantiles(raw: Tensor, mid: int) -> Tensor:
    """Non-crossing quantiles from unconstrained outputs, last axis the levels (sorted).

    The level ``mid`` (the median) is taken as is; each level above adds a softplus step to
    the one below it, each level below subtracts one, so q_1 <= q_2 <= ... by construction.
    """
    centre = raw[..., mid : mid + 1]
    up = centre + torch.cumsum(softplus(raw[..., mid + 1 :]), dim=-1)
    down = centre - torch.cumsum(softplus(raw[..., :mid].flip(-1)), dim=-1)
    return torch.cat([down.flip(-1), centre, up], dim=-1)


def masked_pinball(
    q: Tensor, y: Tensor, mask: Tensor, levels: Tensor, weights: Tensor | None = None
) -> Tensor:
    """Mean pinball loss over the masked-in points and all levels.

    Args:
        q: quantiles (B, H, Q); y: targets (B, H); mask: (B, H) bool; levels: (Q,).
        weights: (B,) per-window weights (None: all 1).
    """
    u = y.unsqueeze(-1) - q
    loss = torch.maximum(levels * u, (levels - 1) * u).mean(-1)
    m = mask.to(loss.dtype)
    denominator = m.sum().clamp_min(1.0)
    if weights is not None:
        m = m * weights.to(loss.dtype)[:, None]
    return (loss * m).sum() / denominator


class QuantileNet(nn.Module):
    """LSTM encoder over the window, then (with the series embedding and static covariates)
    a two-layer head emitting H x Q monotone quantiles.

    Args:
        input_size: per-step features F.
        horizon: H.
        levels: the Q quantile levels, sorted, including 0.5.
        hidden_size: LSTM width.
        num_layers: stacked LSTM layers.
        dropout: between layers and in the head.
        num_series: series with a learned embedding (0: none).
        embed_dim: embedding width.
        num_static: static covariates per series.

    Inputs: x (B, L, F), rows (B,) series positions (for the embedding), static (B, S).
    Outputs: quantiles (B, H, Q).
    """

    def __init__(
        self,
        input_size: int,
        horizon: int,
        levels: list[float],
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        num_series: int = 0,
        embed_dim: int = 0,
        num_static: int = 0,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "input_size": input_size, "horizon": horizon, "levels": list(levels),
            "hidden_size": hidden_size, "num_layers": num_layers, "dropout": dropout,
            "num_series": num_series, "embed_dim": embed_dim, "num_static": num_static,
        }  # fmt: skip
        self.mid = min(range(len(levels)), key=lambda k: abs(levels[k] - 0.5))
        self.encoder = SequenceEncoder(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, dropout=dropout
        )
        self.embed = nn.Embedding(num_series, embed_dim) if num_series and embed_dim else None
        width = hidden_size + (embed_dim if self.embed is not None else 0) + num_static
        self.head = nn.Sequential(
            nn.Linear(width, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, horizon * len(levels)),
        )

    def forward(
        self, x: Tensor, rows: Tensor | None = None, static: Tensor | None = None
    ) -> Tensor:
        out, _ = self.encoder(x)
        parts = [out[:, -1]]
        if self.embed is not None:
            parts.append(self.embed(rows))
        if self.config["num_static"]:
            parts.append(static)
        raw = self.head(torch.cat(parts, dim=-1))
        raw = raw.view(x.shape[0], self.config["horizon"], len(self.config["levels"]))
        return monotone_quantiles(raw, self.mid)
