"""The sequence classifier: a SequenceEncoder, pooling over time, dropout and a linear head."""

from __future__ import annotations

import torch
from torch import nn

from lstmkit.layers import LSTM
from lstmkit.nn import POOLINGS, Pooling, SequenceEncoder

__all__ = ["POOLINGS", "SequenceClassifier"]


class SequenceClassifier(nn.Module):
    """A (bidirectional) LSTM encoder whose outputs are pooled over time into class scores.

    Pooling (`lstmkit.nn.Pooling`), over each sequence's valid steps only:
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
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        # Built in this order (embedding, LSTM, attention, head) so a seed gives the
        # parameters it gave before the encoder and pooling moved into lstmkit.nn.
        self.encoder = SequenceEncoder(
            input_size=input_size,
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            padding_idx=0,
            hidden_size=hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        width = self.encoder.output_size
        self.pooling = Pooling(pooling, width)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    @property
    def lstm(self) -> LSTM:
        """The encoder's LSTM layer."""
        return self.encoder.rnn

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, (h_n, _) = self.encoder(x, lengths)  # (B, T, D*H), zero past each length
        return self.head(self.drop(self.pool(out, h_n, lengths)))  # (B, K)

    def pool(self, out: torch.Tensor, h_n: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Summarise the outputs (B, T, D*H) of each sequence as one vector (B, D*H)."""
        return self.pooling(out, lengths, self.encoder.last_hidden(h_n))
