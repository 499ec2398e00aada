"""The paper's success criteria, one per experiment, as per-sequence pass/fail tensors."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "adding_correct",
    "long_lag_correct",
    "reber_correct",
    "step_mask",
    "temporal_order_correct",
]

ADDING_TOLERANCE = 0.04
LONG_LAG_TOLERANCE = 0.25
TEMPORAL_ORDER_TOLERANCE = 0.3


def _check_same_shape(name: str, got: Tensor, want: Tensor) -> None:
    if got.shape != want.shape:
        raise ValueError(
            f"{name} has shape {tuple(got.shape)} but the targets have shape "
            f"{tuple(want.shape)}; pass one prediction per target"
        )


def step_mask(lengths: Tensor, width: int) -> Tensor:
    """(B, width) bool, True at the valid steps of each sequence."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def reber_correct(scores: Tensor, legal: Tensor, lengths: Tensor) -> Tensor:
    """Whether every symbol of each string is predicted: the legal next symbols are the most active.

    At each valid step the k legal symbols must be the k highest outputs, i.e. the weakest
    legal output beats the strongest illegal one (a tie counts as a failure).

    Args:
        scores: (B, L, 7) outputs (logits or probabilities; only their order matters).
        legal: (B, L, 7) bool, the symbols the grammar allows next.
        lengths: (B,) valid steps per string.

    Returns:
        (B,) bool, True where the whole string is predicted correctly.
    """
    _check_same_shape("scores", scores, legal)
    legal = legal.bool()
    weakest_legal = scores.masked_fill(~legal, float("inf")).amin(-1)
    strongest_illegal = scores.masked_fill(legal, float("-inf")).amax(-1)
    ok = weakest_legal > strongest_illegal
    return (ok | ~step_mask(lengths, scores.shape[1])).all(-1)


def long_lag_correct(
    probs: Tensor, targets: Tensor, lengths: Tensor, tolerance: float = LONG_LAG_TOLERANCE
) -> Tensor:
    """Whether every output unit's absolute error stays below ``tolerance`` at every step (2a).

    Args:
        probs: (B, L, K) output activations in [0, 1].
        targets: (B, L) int64 index of the symbol that comes next.
        lengths: (B,) valid steps per sequence.
        tolerance: the paper's 0.25.

    Returns:
        (B,) bool, True where the maximal absolute error over steps and units is below it.
    """
    if probs.dim() != 3 or probs.shape[:2] != targets.shape:
        raise ValueError(
            f"probs has shape {tuple(probs.shape)} but targets {tuple(targets.shape)}; "
            "expected (B, L, K) and (B, L)"
        )
    wanted = torch.nn.functional.one_hot(targets.clamp(min=0), probs.shape[-1]).to(probs.dtype)
    error = (probs - wanted).abs().amax(-1)  # (B, L)
    error = error.masked_fill(~step_mask(lengths, probs.shape[1]), 0.0)
    return error.amax(-1) < tolerance


def adding_correct(
    predictions: Tensor, targets: Tensor, tolerance: float = ADDING_TOLERANCE
) -> Tensor:
    """Whether the output at the sequence end is within ``tolerance`` of 0.5 + (X1 + X2)/4.

    Args:
        predictions: (B,) network outputs at each sequence's last step.
        targets: (B,) the targets.
        tolerance: the paper's 0.04.

    Returns:
        (B,) bool.
    """
    _check_same_shape("predictions", predictions, targets)
    return (predictions - targets).abs() < tolerance


def temporal_order_correct(
    probs: Tensor, classes: Tensor, tolerance: float = TEMPORAL_ORDER_TOLERANCE
) -> Tensor:
    """Whether every output unit's final absolute error is below ``tolerance`` (experiment 6a).

    Args:
        probs: (B, C) output activations in [0, 1] at each sequence's end.
        classes: (B,) int64 true class.
        tolerance: the paper's 0.3.

    Returns:
        (B,) bool.
    """
    if probs.dim() != 2 or probs.shape[0] != classes.shape[0]:
        raise ValueError(
            f"probs has shape {tuple(probs.shape)} and classes {tuple(classes.shape)}; "
            "expected (B, C) and (B,)"
        )
    wanted = torch.nn.functional.one_hot(classes, probs.shape[-1]).to(probs.dtype)
    return (probs - wanted).abs().amax(-1) < tolerance
