"""Pooling a sequence of encoder outputs into one vector, and attention over a sequence."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["POOLINGS", "AdditiveAttentionPool", "Pooling", "valid_mask"]

POOLINGS = ("last", "mean", "max", "attention")


def valid_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, steps) True at each sequence's valid steps, from lengths (B,)."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


class AdditiveAttentionPool(nn.Module):
    """A learned weighted average over valid steps: weights softmax_t(w · tanh(W o_t + b)).

    Yang et al. 2016, "Hierarchical attention networks for document classification".

    Inputs: out (B, T, F), lengths (B,).  Outputs: (B, F) and, from ``weights``, (B, T).
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def weights(self, out: Tensor, lengths: Tensor) -> Tensor:
        """Attention weights (B, T), exactly zero past each length."""
        scores = self.score(out).squeeze(-1)  # (B, T)
        return scores.masked_fill(~valid_mask(lengths, out.shape[1]), float("-inf")).softmax(1)

    def forward(self, out: Tensor, lengths: Tensor) -> Tensor:
        return (self.weights(out, lengths)[..., None] * out).sum(1)


class Pooling(nn.Module):
    """Summarise each sequence's outputs (B, T, F) over its valid steps as one vector (B, F).

    - "last": the final hidden state of each direction (``h_last``: the forward direction at
      the last valid step, the backward direction at the first);
    - "mean": the average of the outputs (the layer zeroes them past each length);
    - "max": the element-wise maximum over valid steps;
    - "attention": `AdditiveAttentionPool`.

    Args:
        mode: one of POOLINGS.
        width: F, the output width (for attention's parameters).

    Inputs: out (B, T, F), lengths (B,), h_last (B, F) (needed for "last" only).
    """

    def __init__(self, mode: str, width: int) -> None:
        super().__init__()
        if mode not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {mode!r}")
        self.mode = mode
        self.attend = AdditiveAttentionPool(width) if mode == "attention" else None

    def forward(self, out: Tensor, lengths: Tensor, h_last: Tensor | None = None) -> Tensor:
        lengths = lengths.to(out.device)
        if self.mode == "last":
            if h_last is None:
                raise ValueError('pooling "last" needs the final hidden states (h_last)')
            return h_last
        if self.mode == "mean":
            return out.sum(1) / lengths[:, None].to(out.dtype)  # padding is zero
        if self.attend is not None:
            return self.attend(out, lengths)
        valid = valid_mask(lengths, out.shape[1])
        return out.masked_fill(~valid[..., None], float("-inf")).amax(1)
