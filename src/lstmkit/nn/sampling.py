"""Choosing the next token from a model's scores: greedy, temperature, top-k and top-p."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_sampling", "filter_logits", "pick_token"]


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Refuse sampling settings that mean nothing, naming the setting."""
    if not temperature >= 0:  # also refuses NaN
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0: no limit), got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must lie in (0, 1], got {top_p}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
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


def pick_token(
    logits: Tensor,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> int:
    """One token id from scores (V,): the argmax when temperature is 0, else a sample."""
    if temperature == 0:
        return int(logits.argmax())
    probs = filter_logits(logits / temperature, top_k, top_p).softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))
