"""DeepAR-style autoregressive model: teacher forcing on windows, ancestral sampling out.

Salinas et al. 2020: at step t the LSTM reads the previous value (observed, or in the
forecast range its own previous draw) with the step's calendar features, and a likelihood
head (`lstmkit.nn.likelihoods`) gives the distribution of the value at t. Training
maximises the likelihood of every observed value of the window (context and prediction
range); forecasting draws whole paths one step at a time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.nn import SequenceEncoder
from lstmkit.nn.likelihoods import make_head, mean_scale

__all__ = ["DeepARNet", "deepar_objective", "sample_paths"]


class DeepARNet(nn.Module):
    """LSTM over (previous value, its observed flag, calendar features, series features),
    a likelihood head on each output.

    Args:
        input_size: the windows' per-step features F (value, flag, calendar).
        likelihood: "gaussian", "student_t" or "negative_binomial".
        hidden_size, num_layers, dropout: the LSTM.
        num_series, embed_dim: the optional learned series embedding.
        num_static: static covariates per series.
        log: unused marker kept in the config (the windows carry the transform).

    Values are read in the windows' units; with the negative binomial (counts, raw values)
    they are divided by DeepAR's scale 1 + mean of the context, which the head multiplies
    back.
    """

    def __init__(
        self,
        input_size: int,
        likelihood: str = "student_t",
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        num_series: int = 0,
        embed_dim: int = 0,
        num_static: int = 0,
        log: bool = False,
    ) -> None:
        super().__init__()
        self.config: dict[str, Any] = {
            "input_size": input_size, "likelihood": likelihood, "hidden_size": hidden_size,
            "num_layers": num_layers, "dropout": dropout, "num_series": num_series,
            "embed_dim": embed_dim, "num_static": num_static, "log": log,
        }  # fmt: skip
        self.embed = nn.Embedding(num_series, embed_dim) if num_series and embed_dim else None
        extra = (embed_dim if self.embed is not None else 0) + num_static
        self.encoder = SequenceEncoder(
            input_size=input_size + extra,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
        )
        self.head = make_head(likelihood, hidden_size)
        self.counts = likelihood == "negative_binomial"

    def series_features(self, rows: Tensor, static: Tensor) -> Tensor:
        """(B, E + S): the embedding and the static covariates of each row's series."""
        parts = [static]
        if self.embed is not None:
            parts.insert(0, self.embed(rows))
        return torch.cat(parts, dim=-1)

    def scale(self, values: Tensor, observed: Tensor) -> Tensor:
        """(B, 1): DeepAR's count scale from the context, or 1 for already scaled values."""
        if self.counts:
            return mean_scale(values, observed, plus_one=True)
        return torch.ones(values.shape[0], 1, dtype=values.dtype)

    def step(
        self, prev: Tensor, seen: Tensor, calendar: Tensor, series: Tensor, scale: Tensor, state
    ) -> tuple:
        """Run the LSTM over steps whose previous values are ``prev`` (B, T)."""
        feats = [(prev / scale).unsqueeze(-1), seen.unsqueeze(-1), calendar]
        feats.append(series.unsqueeze(1).expand(-1, prev.shape[1], -1))
        out, state = self.encoder(torch.cat(feats, dim=-1), state=state)
        return out, state


def _sequence(batch: tuple) -> tuple[Tensor, ...]:
    """The window as one sequence: values, observed flags and calendar features (B, L + H)."""
    x, y, mask, rows, static, future = batch
    values = torch.cat([x[..., 0], y], dim=1)
    seen = torch.cat([x[..., 1], mask.to(x.dtype)], dim=1)
    calendar = torch.cat([x[..., 2:], future], dim=1)
    return values, seen, calendar, rows, static


def deepar_objective(model: DeepARNet, batch: tuple, state: object) -> Tensor:
    """Negative log-likelihood of each observed value given the true previous ones."""
    values, seen, calendar, rows, static = _sequence(batch)
    context = batch[0].shape[1]
    scale = model.scale(values[:, :context], seen[:, :context])
    series = model.series_features(rows, static)
    out, _ = model.step(values[:, :-1], seen[:, :-1], calendar[:, 1:], series, scale, None)
    params = model.head(out, scale)
    return model.head.nll(params, values[:, 1:], seen[:, 1:] > 0)


def sample_paths(
    model: DeepARNet,
    x: Tensor,
    future: Tensor,
    rows: Tensor,
    static: Tensor,
    num_samples: int,
    generator: torch.Generator,
) -> Tensor:
    """Ancestral sampling: ``num_samples`` paths (B, N, H) after each window ``x``.

    The context is read once; its state is copied for every path, and each path feeds its
    own draw back as the next step's previous value. Reproducible for a given generator.
    """
    n, horizon = num_samples, future.shape[1]
    values, seen, calendar = x[..., 0], x[..., 1], x[..., 2:]
    scale = model.scale(values, seen)
    series = model.series_features(rows, static)
    _, state = model.step(values[:, :-1], seen[:, :-1], calendar[:, 1:], series, scale, None)
    # Every tensor repeated N times along the batch: row b*N + k is path k of series b.
    state = tuple(s.repeat_interleave(n, dim=1) for s in state)
    series, scale = series.repeat_interleave(n, 0), scale.repeat_interleave(n, 0)
    prev = values[:, -1:].repeat_interleave(n, 0)
    flag = torch.ones_like(prev)
    future = future.repeat_interleave(n, 0)
    draws = []
    for h in range(horizon):
        out, state = model.step(prev, flag, future[:, h : h + 1], series, scale, state)
        prev = model.head.sample(model.head(out, scale), seed=generator)
        draws.append(prev[:, 0])
    return torch.stack(draws, dim=-1).view(x.shape[0], n, horizon)
