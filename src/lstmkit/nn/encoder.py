"""The sequence encoder every task model starts with: tokens or features -> stacked lstmkit RNN."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.layers import GRU, LSTM, RNN

__all__ = ["SequenceEncoder"]

# "rnn" is the tanh Elman RNN, the baseline of the long-time-lag comparisons.
_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}


class SequenceEncoder(nn.Module):
    """Embedding (token ids) or raw features -> dropout -> stacked (bi)directional LSTM/GRU/RNN.

    Dropout is applied to the embedded input, and between stacked layers (by the layer
    itself, only when there are 2+ layers: torch warns about dropout on a single layer).
    Dropout on the outputs is left to the head that reads them.

    Args:
        input_size: features per step for numeric input (give this or ``vocab_size``).
        vocab_size: vocabulary size for token input.
        embedding_dim: embedding width for token input. Default 64.
        padding_idx: the padding token's id (its embedding stays zero), or None. Default 0.
        hidden_size: units per direction. Default 64.
        num_layers: stacked layers. Default 1.
        bidirectional: run a backward direction too. Default False.
        dropout: on the embedded input (token input only) and between layers. Default 0.0.
        input_dropout: dropout on numeric input features. Default 0.0.
        cell: "lstm", "gru" or "rnn" (tanh). Default "lstm".
        **layer_options: passed to the lstmkit layer (``layer_norm``, ``zoneout``, ``engine``...).

    Inputs: x, lengths=None, state=None, return_gates=False
        x: (B, T) token ids or (B, T, input_size) features, batch first.
        lengths: (B,) valid steps per sequence; outputs past them are zero.
        state: initial state as the layer takes it, or None.

    Outputs: output, state (and the gates, as the layer records them, with return_gates)
        output: (B, T, D*hidden_size); state: the layer's final state ((h_n, c_n) or h_n).

    >>> enc = SequenceEncoder(vocab_size=20, embedding_dim=8, hidden_size=16, bidirectional=True)
    >>> out, (h, c) = enc(torch.randint(1, 20, (3, 5)), lengths=torch.tensor([5, 2, 1]))
    >>> out.shape, h.shape
    (torch.Size([3, 5, 32]), torch.Size([2, 3, 16]))
    """

    def __init__(
        self,
        *,
        input_size: int | None = None,
        vocab_size: int | None = None,
        embedding_dim: int = 64,
        padding_idx: int | None = 0,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        cell: str = "lstm",
        **layer_options: Any,
    ) -> None:
        super().__init__()
        if (input_size is None) == (vocab_size is None):
            raise ValueError("give exactly one of input_size (numeric) or vocab_size (tokens)")
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.embedding: nn.Embedding | None = None
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=padding_idx)
            input_size = embedding_dim
        self.input_drop = nn.Dropout(dropout if vocab_size is not None else input_dropout)
        self.rnn = _CELLS[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
            **layer_options,
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)

    @property
    def directions(self) -> int:
        """1, or 2 when bidirectional."""
        return 2 if self.rnn.bidirectional else 1

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        state: Any = None,
        *,
        return_gates: bool = False,
    ) -> Any:
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T, E)
        x = self.input_drop(x)
        return self.rnn(x, state, lengths=lengths, return_gates=return_gates)  # (B, T, D*H)

    def last_hidden(self, h_n: Tensor) -> Tensor:
        """The last layer's final hidden state of each direction, concatenated: (B, D*H)."""
        return torch.cat(list(h_n[-self.directions :]), dim=-1)
