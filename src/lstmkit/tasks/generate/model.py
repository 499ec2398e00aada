"""The language model: embedding -> stacked LSTM -> softmax over the vocabulary, and sampling."""

from __future__ import annotations

import torch
from torch import nn

from lstmkit import LSTM

__all__ = ["LanguageModel", "filter_logits", "generate_ids"]

State = tuple[torch.Tensor, torch.Tensor] | None


class LanguageModel(nn.Module):
    """An LSTM language model predicting the next token from the ones before it.

    p(x_{t+1} | x_1..x_t) = softmax(W h_t + b), h_t from a stacked LSTM over embeddings.
    With `tie_weights` the output matrix W is the embedding matrix (Press & Wolf 2017,
    "Using the output embedding to improve language models"), which needs
    `embedding_dim == hidden_size`.

    Args:
        vocab_size: number of tokens V.
        embedding_dim: embedding width E. Default 128.
        hidden_size: LSTM units H. Default 256.
        num_layers: stacked LSTM layers. Default 2.
        dropout: dropout on the embeddings, between LSTM layers and on the LSTM output.
        tie_weights: share the embedding and output matrices. Default False.

    Inputs: x, state
        x: (B, T) token ids.
        state: (h, c) each (num_layers, B, H) carried from the previous chunk, or None.

    Outputs: logits (B, T, V), (h, c).

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
    ):
        super().__init__()
        if tie_weights and embedding_dim != hidden_size:
            raise ValueError(
                f"tie_weights needs embedding_dim == hidden_size, got {embedding_dim} and "
                f"{hidden_size}; set both to the same value"
            )
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        between = dropout if num_layers > 1 else 0.0  # torch warns about dropout on 1 layer
        self.lstm = LSTM(
            embedding_dim, hidden_size, num_layers=num_layers, batch_first=True, dropout=between
        )
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, vocab_size)
        if tie_weights:
            self.decoder.weight = self.embedding.weight

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        emb = self.drop(self.embedding(x))  # (B, T, E)
        out, state = self.lstm(emb, state)  # (B, T, H)
        return self.decoder(self.drop(out)), state  # (B, T, V)


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Keep the top-k tokens and/or the smallest set whose probability reaches top-p.

    Args:
        logits: (V,) scores, already divided by the temperature.
        top_k: keep this many highest-scoring tokens (None or 0: all).
        top_p: nucleus sampling (Holtzman et al. 2020): keep the most likely tokens until
            their total probability reaches top_p (None or 1.0: all).

    Returns:
        The logits with removed tokens set to -inf (the most likely token always stays).
    """
    logits = logits.clone()
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits[logits < kth] = float("-inf")
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p.
        drop = cumulative - sorted_logits.softmax(-1) >= top_p
        logits[order[drop]] = float("-inf")
    return logits


@torch.no_grad()
def generate_ids(
    model: LanguageModel,
    prompt_ids: list[int],
    max_length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> list[int]:
    """Continue `prompt_ids` by `max_length` sampled tokens.

    Args:
        model: a trained LanguageModel.
        prompt_ids: token ids to condition on (at least one).
        max_length: number of new tokens.
        temperature: divide logits by this; 0 picks the most likely token (greedy).
        top_k: sample only among the k most likely tokens.
        top_p: sample only within the nucleus of probability top_p.
        seed: seed of the sampling generator (same seed, same text).

    Returns:
        The new token ids (without the prompt); id 0 (`<pad>`) is never produced.
    """
    if not prompt_ids:
        raise ValueError("the prompt is empty after tokenizing; give at least one token")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    logits, state = model(torch.tensor([prompt_ids]))
    out: list[int] = []
    no_pad = torch.zeros_like(logits[0, -1])
    no_pad[0] = float("-inf")
    last = logits[0, -1] + no_pad
    for _ in range(max_length):
        if temperature == 0:
            token = int(last.argmax())
        else:
            probs = filter_logits(last / temperature, top_k, top_p).softmax(-1)
            token = int(torch.multinomial(probs, 1, generator=generator))
        out.append(token)
        logits, state = model(torch.tensor([[token]]), state)
        last = logits[0, -1] + no_pad
    model.train(was_training)
    return out
