"""Attention of a decoder over encoder outputs: additive (Bahdanau) and multiplicative (Luong)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["ATTENTIONS", "Attention"]

ATTENTIONS = ("additive", "dot", "general")


class Attention(nn.Module):
    r"""Scores every source position for a query, softmax over the valid ones, weighted sum.

    With query q (the decoder state) and keys k_s (the encoder outputs, also the values):

        additive (Bahdanau et al. 2015):  e_s = v · tanh(W_q q + W_k k_s)
        dot      (Luong et al. 2015):     e_s = q · k_s
        general  (Luong et al. 2015):     e_s = q · (W_a k_s)
        a = softmax_s(e) over valid s,    context = Σ_s a_s k_s

    Padded source positions get a score of -inf before the softmax, so their weight is
    exactly zero and padding a batch further changes nothing. The key projections
    (W_k k_s, W_a k_s) do not depend on the query: `prepare` computes them once per
    source batch and every decoder step reuses them.

    Args:
        mode: "additive", "dot" or "general".
        query_size: features of the query.
        key_size: features of each key (for "dot" it must equal query_size).
        attention_size: width of the additive scorer's hidden layer; default query_size.

    Inputs: query, keys, mask, prepared=None
        query: (B, Q) for one decoder step or (B, T, Q) for T steps at once.
        keys: (B, S, K) encoder outputs.
        mask: (B, S) bool, True at valid source positions (each row needs one).
        prepared: `prepare(keys)`, to skip recomputing it.

    Outputs: context, weights
        context: (B, K) or (B, T, K); weights: (B, S) or (B, T, S), rows summing to one.

    >>> attend = Attention("general", query_size=8, key_size=6)
    >>> keys, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool()
    >>> context, weights = attend(torch.randn(2, 8), keys, mask)
    >>> context.shape, weights[0, 3:].tolist()
    (torch.Size([2, 6]), [0.0, 0.0])
    """

    def __init__(
        self, mode: str, query_size: int, key_size: int, attention_size: int | None = None
    ) -> None:
        super().__init__()
        if mode not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, got {mode!r}")
        if mode == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs queries and keys of one width, got {query_size} and "
                f"{key_size}; use 'general' to learn a map between them"
            )
        self.mode = mode
        self.query_size, self.key_size = query_size, key_size
        self.key_proj: nn.Linear | None = None
        self.query_proj: nn.Linear | None = None
        self.v: nn.Linear | None = None
        if mode == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)  # W_a
        elif mode == "additive":
            width = attention_size or query_size
            self.key_proj = nn.Linear(key_size, width, bias=True)  # W_k (with the bias)
            self.query_proj = nn.Linear(query_size, width, bias=False)  # W_q
            self.v = nn.Linear(width, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        """The query-independent part of the scores: W_k k_s, W_a k_s, or the keys for dot."""
        return keys if self.key_proj is None else self.key_proj(keys)  # (B, S, A)

    def scores(self, query: Tensor, prepared: Tensor) -> Tensor:
        """Unnormalised scores (B, T, S) of queries (B, T, Q) against prepared keys."""
        if self.v is None:  # dot or general: a batched inner product
            return torch.bmm(query, prepared.transpose(1, 2))
        assert self.query_proj is not None
        hidden = torch.tanh(self.query_proj(query)[:, :, None, :] + prepared[:, None, :, :])
        return self.v(hidden).squeeze(-1)  # (B, T, S)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, prepared: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        one_step = query.dim() == 2
        q = query[:, None, :] if one_step else query  # (B, T, Q)
        if prepared is None:
            prepared = self.prepare(keys)
        scores = self.scores(q, prepared).masked_fill(~mask[:, None, :], float("-inf"))
        weights = scores.softmax(-1)  # (B, T, S), exactly 0 where masked
        context = torch.bmm(weights, keys)  # (B, T, K)
        if one_step:
            return context[:, 0], weights[:, 0]
        return context, weights

    def extra_repr(self) -> str:
        return f"{self.mode}, query_size={self.query_size}, key_size={self.key_size}"
