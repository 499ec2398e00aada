"""Choosing the next token from a model's scores (greedy, temperature, top-k and top-p),
and the loop that continues a prompt one token at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["check_sampling", "filter_logits", "generate_ids", "pick_token"]


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


@torch.no_grad()
def generate_ids(
    model: Callable[[Tensor, Any], tuple[Tensor, Any]],
    prompt_ids: Sequence[int],
    max_length: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    banned: Sequence[int] = (0,),
) -> list[int]:
    """Continue ``prompt_ids`` by ``max_length`` tokens, feeding each one back with the state.

    Args:
        model: maps ``(x (1, T) ids, state)`` to ``(logits (1, T, V), state)``, e.g. a
            `LanguageModel`; an ``nn.Module`` is run in eval mode and its mode restored.
        prompt_ids: token ids to condition on (at least one).
        max_length: number of new tokens.
        temperature: divide logits by this; 0 picks the most likely token (greedy).
        top_k: sample only among the k most likely tokens (None or 0: all).
        top_p: sample only within the nucleus of probability top_p.
        seed: seed of the sampling generator (same seed, same text; None: 0).
        banned: ids never produced. Default (0,): the padding token.

    Returns:
        The new token ids (without the prompt).

    >>> from lstmkit.nn import LanguageModel
    >>> lm = LanguageModel(12, embedding_dim=4, hidden_size=8, num_layers=1)
    >>> len(generate_ids(lm, [3, 4], 5, temperature=0.8, seed=1))
    5
    """
    if not prompt_ids:
        raise ValueError("the prompt is empty after tokenizing; give at least one token")
    check_sampling(temperature, top_k, top_p)
    was_training = getattr(model, "training", None)
    if was_training is not None:
        model.eval()  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    logits, state = model(torch.tensor([list(prompt_ids)]), None)
    mask = torch.zeros_like(logits[0, -1])
    mask[list(banned)] = float("-inf")
    out: list[int] = []
    for _ in range(max_length):
        token = pick_token(
            logits[0, -1] + mask, generator, temperature=temperature, top_k=top_k, top_p=top_p
        )
        out.append(token)
        logits, state = model(torch.tensor([[token]]), state)
    if was_training is not None:
        model.train(was_training)  # type: ignore[attr-defined]
    return out
