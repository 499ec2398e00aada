"""The sequence classifier: embedding or features -> (Bi)LSTM -> pooling over time -> classes."""

from __future__ import annotations

import torch
from torch import nn

from lstmkit import LSTM

__all__ = ["POOLINGS", "SequenceClassifier"]

POOLINGS = ("last", "mean", "max", "attention")


class SequenceClassifier(nn.Module):
    """A (bidirectional) LSTM encoder whose outputs are pooled over time into class scores.

    Pooling, over each sequence's valid steps only (the layer's `lengths=` zeroes the rest):
    - "last": the final hidden state of each direction, `h_n` (the forward direction at the
      last valid step, the backward direction at the first step);
    - "mean": the average of the outputs;
    - "max": the element-wise maximum of the outputs;
    - "attention": a learned weighted average, weights softmax(w · tanh(W o_t)) over steps
      (Yang et al. 2016, "Hierarchical attention networks").

    Args:
        num_classes: number of classes K.
        input_size: features per step for numeric input (give this or `vocab_size`).
        vocab_size: vocabulary size for token input; id 0 is padding.
        embedding_dim: embedding width for token input. Default 64.
        hidden_size: LSTM units per direction. Default 64.
        num_layers: stacked LSTM layers. Default 1.
        bidirectional: run a backward LSTM too. Default True.
        pooling: one of POOLINGS. Default "mean".
        dropout: dropout on the embedding, between LSTM layers and before the output layer.

    Inputs: x, lengths
        x: (B, T, input_size) floats or (B, T) token ids, zero-padded past each length.
        lengths: (B,) valid steps per sequence, each >= 1.

    Outputs: logits (B, K).

    Example:
        >>> model = SequenceClassifier(3, input_size=12)
        >>> model(torch.randn(2, 7, 12), torch.tensor([7, 4])).shape
        torch.Size([2, 3])
    """

    def __init__(
        self,
        num_classes: int,
        *,
        input_size: int | None = None,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        pooling: str = "mean",
        dropout: float = 0.3,
    ):
        super().__init__()
        if (input_size is None) == (vocab_size is None):
            raise ValueError("give exactly one of input_size (numeric) or vocab_size (tokens)")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        self.embedding = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
            input_size = embedding_dim
        self.lstm = LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = hidden_size * (2 if bidirectional else 1)
        self.pooling = pooling
        if pooling == "attention":
            self.attend = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.drop(self.embedding(x))  # (B, T, E)
        out, (h_n, _) = self.lstm(x, lengths=lengths)  # (B, T, D*H), zero past each length
        return self.head(self.drop(self.pool(out, h_n, lengths)))

    def pool(self, out: torch.Tensor, h_n: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Summarise the outputs (B, T, D*H) of each sequence as one vector (B, D*H)."""
        lengths = lengths.to(out.device)
        if self.pooling == "last":
            directions = 2 if self.lstm.bidirectional else 1
            return torch.cat(list(h_n[-directions:]), dim=-1)  # last layer's directions
        if self.pooling == "mean":
            return out.sum(1) / lengths[:, None].to(out.dtype)  # padding is zero
        valid = torch.arange(out.shape[1], device=out.device)[None, :] < lengths[:, None]
        if self.pooling == "max":
            return out.masked_fill(~valid[..., None], float("-inf")).amax(1)
        scores = self.attend(out).squeeze(-1).masked_fill(~valid, float("-inf"))  # (B, T)
        return (scores.softmax(1)[..., None] * out).sum(1)
