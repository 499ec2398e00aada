"""Language-model metrics: cross-entropy in nats, perplexity and bits per character."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["bits_per_char", "cross_entropy", "perplexity"]


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int = -100
) -> float:
    """Mean negative log-likelihood of the targets in nats per token.

    Args:
        logits: unnormalised scores, shape (..., V).
        targets: token ids, shape (...) matching logits without the last dimension.
        ignore_index: target value to skip (padding).

    Returns:
        The mean cross-entropy over the counted tokens.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} need targets of shape "
            f"{tuple(logits.shape[:-1])}, got {tuple(targets.shape)}"
        )
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index
    )
    return float(loss)


def perplexity(nats_per_token: float) -> float:
    """exp(cross-entropy): the effective number of equally likely choices per token."""
    if not math.isfinite(nats_per_token) or nats_per_token < 0:
        raise ValueError(
            f"cross-entropy must be a finite non-negative number, got {nats_per_token}"
        )
    return math.exp(nats_per_token)


def bits_per_char(nats_per_token: float, num_tokens: int = 1, num_chars: int = 1) -> float:
    """Cross-entropy in bits per character of the underlying text.

    For a character model the defaults give nats / ln 2. For a word model pass the token
    and character counts of the scored text, so models with different tokenizers are
    compared on the same scale: total bits / characters.

    Args:
        nats_per_token: mean cross-entropy per token in nats.
        num_tokens: tokens the mean was taken over.
        num_chars: characters of text those tokens cover.

    Returns:
        Bits per character.
    """
    if num_tokens < 1 or num_chars < 1:
        raise ValueError(f"need positive counts, got {num_tokens} tokens and {num_chars} chars")
    return nats_per_token * num_tokens / (num_chars * math.log(2))
