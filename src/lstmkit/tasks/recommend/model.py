"""SessionRNN: item embeddings -> lstmkit GRU/LSTM -> a score for every item (GRU4Rec's shape)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.nn import SequenceEncoder

__all__ = ["SessionRNN"]


class SessionRNN(nn.Module):
    """Next-item model: embed the current item, update the session's state, score all items.

    For the item x_t at step t of a session: h_t = RNN(E[x_t], h_{t-1}), with h_0 = 0 at the
    session's first event, and item j scores ``dropout(h_t) @ W[j] + b[j]``; W is the
    input embedding E itself when ``tie_embeddings``. Id 0 is padding and never scored.

    Args:
        num_items: V + 1 (item ids 1..V, 0 padding).
        embedding_dim: width of E. Default 128.
        hidden_size: recurrent units. Default 128.
        num_layers: stacked layers. Default 1.
        cell: "gru" or "lstm". Default "gru".
        dropout: on E[x_t] (and between layers) and on h_t before scoring. Default 0.2.
        tie_embeddings: W = E (needs embedding_dim == hidden_size). Default False.

    Inputs of ``run_chunk``: inputs (B, T), starts (B, T) bool, state; outputs (B, T, H), state.
    Inputs of ``encode``: padded sessions (B, T), lengths (B,); outputs (B, T, H).

    >>> model = SessionRNN(10, embedding_dim=8, hidden_size=8)
    >>> hidden = model.encode(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]))
    >>> model.scores(hidden[:, -1]).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        num_items: int,
        *,
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.2,
        tie_embeddings: bool = False,
    ) -> None:
        super().__init__()
        if tie_embeddings and embedding_dim != hidden_size:
            raise ValueError("tie_embeddings needs embedding_dim == hidden_size")
        self.encoder = SequenceEncoder(
            vocab_size=num_items,
            embedding_dim=embedding_dim,
            padding_idx=0,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            cell=cell,
        )
        self.output_drop = nn.Dropout(dropout)
        self.tie_embeddings = tie_embeddings
        self.output = None if tie_embeddings else nn.Embedding(num_items, hidden_size)
        if self.output is not None:
            nn.init.normal_(self.output.weight, std=hidden_size**-0.5)
        self.item_bias = nn.Parameter(torch.zeros(num_items))

    def item_weight(self) -> Tensor:
        """(V, H): the vectors items are scored with, padding left out (row j is item j + 1)."""
        table = self.encoder.embedding if self.tie_embeddings else self.output
        return table.weight[1:]

    def forward(self, inputs: Tensor, starts: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """`run_chunk`: what the training objective calls, so that under DDP the call goes
        through the wrapper that averages the gradients."""
        return self.run_chunk(inputs, starts, state)

    def run_chunk(self, inputs: Tensor, starts: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Session-parallel steps: before step t, slots with ``starts[:, t]`` restart from zero.

        Args:
            inputs: (B, T) item ids (0 for an idle slot).
            starts: (B, T) True where a slot's new session begins.
            state: the carried state ((h, c) for LSTM, h for GRU; (L, B, H) each) or None.

        Returns:
            ``(hidden, state)``: hidden (B, T, H), the last layer's output at every step.
        """
        outputs = []
        for t in range(inputs.shape[1]):
            if state is not None:
                keep = (~starts[:, t]).to(inputs.device).view(1, -1, 1).float()  # (1, B, 1)
                state = tuple(s * keep for s in state) if isinstance(state, tuple) else state * keep
            out, state = self.encoder(inputs[:, t : t + 1], state=state)  # (B, 1, H)
            outputs.append(out)
        return self.output_drop(torch.cat(outputs, dim=1)), state

    def encode(self, sessions: Tensor, lengths: Tensor) -> Tensor:
        """Whole sessions, each from a zero state: (B, T) padded ids -> (B, T, H)."""
        out, _ = self.encoder(sessions, lengths=lengths)
        return self.output_drop(out)

    def scores(self, hidden: Tensor) -> Tensor:
        """(N, H) -> (N, V + 1) scores of the ids 0..V; the padding id 0 scores -inf."""
        scores = hidden @ self.item_weight().T + self.item_bias[1:]  # (N, V)
        return torch.cat([scores.new_full((len(scores), 1), -torch.inf), scores], dim=1)
