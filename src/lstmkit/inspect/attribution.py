"""Which input steps and features drove a prediction: integrated gradients and gradient x input.

Integrated gradients (Sundararajan, Taly & Yan 2017) attribute f(x) - f(x') to each input
element along the straight path from a baseline x' to x:

    IG_j(x) = (x_j - x'_j) * integral_0^1 df/dx_j (x' + a (x - x')) da,

here by the trapezoid rule on ``steps`` equal intervals, so completeness,
sum_j IG_j = f(x) - f(x'), holds up to an error that shrinks as O(1 / steps^2) for a smooth f.
Gradient x input is x_j * df/dx_j (x): one backward pass, exact for a linear f with f(0) = 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["METHODS", "Attribution", "attribute", "gradient_x_input", "integrated_gradients"]

METHODS = ("ig", "grad-x-input")
Scalar = Callable[[Tensor], Tensor]  # inputs (B, T, F) -> one number per sequence (B,)


@dataclass
class Attribution:
    """Attributions (B, T, F) of ``f`` at ``inputs``, with what they were measured against."""

    values: Tensor  # (B, T, F)
    method: str  # "ig" or "grad-x-input"
    output: Tensor  # f(x), (B,)
    baseline_output: Tensor | None  # f(x'), (B,); IG only
    steps: int  # IG's intervals (0 for gradient x input)
    baseline: str  # how x' was made, in words

    @property
    def completeness_gap(self) -> Tensor | None:
        """|sum of attributions - (f(x) - f(x'))| per sequence (IG only)."""
        if self.baseline_output is None:
            return None
        return (self.values.sum((1, 2)) - (self.output - self.baseline_output)).abs()


def _gradient(f: Scalar, x: Tensor) -> tuple[Tensor, Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(x)
        if out.dim() != 1 or out.shape[0] != x.shape[0]:
            raise ValueError(f"f must return one value per sequence, shape ({x.shape[0]},)")
        (grad,) = torch.autograd.grad(out.sum(), x)  # sequences are independent: one pass
    return out.detach(), grad


def gradient_x_input(f: Scalar, x: Tensor) -> Attribution:
    """x * df/dx at ``x`` (B, T, F) for a scalar-per-sequence ``f``."""
    out, grad = _gradient(f, x)
    return Attribution(x.detach() * grad, "grad-x-input", out, None, 0, "none")


def integrated_gradients(
    f: Scalar, x: Tensor, baseline: Tensor | None = None, steps: int = 64, *, what: str = ""
) -> Attribution:
    """Integrated gradients of ``f`` at ``x`` (B, T, F) against ``baseline`` (zeros if None).

    Args:
        f: maps inputs (B, T, F) to one number per sequence (B,), differentiably.
        x: the inputs.
        baseline: x' of the same shape; default zeros.
        steps: trapezoid intervals along the path (steps + 1 gradient evaluations).
        what: the baseline in words, for the report (default: "zeros" or "given").

    Returns:
        The attributions, f(x), f(x') and the settings.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"integrated gradients needs steps >= 1, got {steps!r}")
    x = x.detach()
    base = torch.zeros_like(x) if baseline is None else baseline.detach().to(x)
    if base.shape != x.shape:
        raise ValueError(f"baseline has shape {tuple(base.shape)}, inputs {tuple(x.shape)}")
    total = torch.zeros_like(x)
    outputs = []
    for k in range(steps + 1):
        alpha = k / steps
        out, grad = _gradient(f, base + alpha * (x - base))
        weight = 0.5 if k in (0, steps) else 1.0  # trapezoid rule
        total += weight * grad
        outputs.append(out)
    values = (x - base) * total / steps
    name = what or ("zeros" if baseline is None else "given")
    return Attribution(values, "ig", outputs[-1], outputs[0], steps, name)


def attribute(
    f: Scalar, x: Tensor, method: str, *, baseline: Tensor | None = None, steps: int = 64,
    what: str = "",
) -> Attribution:  # fmt: skip
    """`integrated_gradients` (``method="ig"``) or `gradient_x_input` (``"grad-x-input"``)."""
    if method == "ig":
        return integrated_gradients(f, x, baseline, steps, what=what)
    if method == "grad-x-input":
        return gradient_x_input(f, x)
    raise ValueError(f"--attribution must be one of {', '.join(METHODS)}, got {method!r}")
