"""A recurrent language model over a token stream, its training objective and its loss on a stream.

The character LMs of `lstmkit generate` and the contextual string embeddings of the tagger
(Akbik et al. 2018) are the same model: `LanguageModel` trained with `stream_objective` on
consecutive chunks of one stream (``TrainConfig(stateful=True)``: truncated BPTT), scored
with `stream_nats`. None of them knows where the chunks come from (``data.batching``'s
`StreamBatches` cuts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.nn.encoder import SequenceEncoder

__all__ = ["LanguageModel", "stream_nats", "stream_objective"]

State = tuple[Tensor, Tensor] | None


class LanguageModel(nn.Module):
    """An LSTM language model predicting the next token from the ones before it.

    p(x_{t+1} | x_1..x_t) = softmax(W h_t + b), h_t from a stacked LSTM over embeddings
    (a `SequenceEncoder`). With `tie_weights` the output matrix W is the embedding matrix
    (Press & Wolf 2017, "Using the output embedding to improve language models"), which
    needs `embedding_dim == hidden_size`.

    Args:
        vocab_size: number of tokens V.
        embedding_dim: embedding width E. Default 128.
        hidden_size: LSTM units H. Default 256.
        num_layers: stacked LSTM layers. Default 2.
        dropout: dropout on the embeddings, between LSTM layers and on the LSTM output.
            Default 0.1.
        tie_weights: share the embedding and output matrices. Default False.

    Inputs: x, state
        x: (B, T) token ids.
        state: (h, c) each (num_layers, B, H) carried from the previous chunk, or None.

    Outputs: logits (B, T, V), (h, c). `hidden` gives the LSTM outputs (B, T, H) instead,
    the contextual features a downstream model (a tagger) reads.

    Example:
        >>> lm = LanguageModel(30, embedding_dim=16, hidden_size=32)
        >>> logits, state = lm(torch.randint(0, 30, (4, 10)))
        >>> logits.shape
        torch.Size([4, 10, 30])
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}; set both to the same value"
            )
        self.config = {
            "vocab_size": vocab_size,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
            "tie_weights": tie_weights,
        }
        # No padding id: a stream has no padding, and every row of the embedding learns.
        self.encoder = SequenceEncoder(
            vocab_size=vocab_size,
            embedding_dim=embedding_dim,
            padding_idx=None,
            hidden_size=hidden_size,
            num_layers=num_layers,
            dropout=dropout,
        )
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    @property
    def embedding(self) -> nn.Embedding:
        """The input embedding (V, E)."""
        assert self.encoder.embedding is not None  # built with vocab_size
        return self.encoder.embedding

    def hidden(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """The last layer's outputs (B, T, H) and the final state, without the softmax layer."""
        return self.encoder(x, state=state)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        out, state = self.hidden(x, state)  # (B, T, H)
        return self.decoder(self.drop(out)), state  # (B, T, V)


def stream_objective(model: nn.Module, batch: tuple[Tensor, Tensor], state: Any) -> Any:
    """Mean next-token cross-entropy of one chunk, carrying the state: ``(loss, state)``.

    For ``lstmkit.train.fit(model, stream_objective, chunks, TrainConfig(stateful=True))``:
    the loop hands each chunk the detached state the previous chunk left.

    Args:
        model: maps ``(x (B, T), state)`` to ``(logits (B, T, V), state)``.
        batch: ``(x, y)`` of shape (B, T), ``y[:, t]`` the token after ``x[:, t]``.
        state: the carried state, or None at the start of a pass.
    """
    x, y = batch
    logits, state = model(x, state)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), state


@torch.no_grad()
def stream_nats(model: nn.Module, chunks: Iterable[tuple[Tensor, Tensor]]) -> tuple[float, int]:
    """Total cross-entropy (nats) and token count over consecutive chunks of a stream.

    The state flows from chunk to chunk as in training, so every token is scored with all
    the context before it. The model is left in eval mode (dropout off).

    Returns:
        ``(nats, tokens)``: their ratio is the loss per token.
    """
    model.eval()
    state, nats, tokens = None, 0.0, 0
    for x, y in chunks:
        logits, state = model(x, state)
        flat = logits.reshape(-1, logits.shape[-1])
        nats += float(F.cross_entropy(flat, y.reshape(-1), reduction="sum"))
        tokens += y.numel()
    return nats, tokens
