"""Optimizers, learning-rate schedules, L1/L2 penalties and gradient clipping for the loop."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .config import TrainConfig


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Create the optimizer named by ``config.optimizer`` over the model's trainable parameters.

    Args:
        model: the module being trained.
        config: reads ``optimizer``, ``lr``, ``momentum`` and ``weight_decay``.

    Returns:
        A torch optimizer: SGD (with momentum), Adam or AdamW.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (none with requires_grad=True)"
        )
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    # torch's fused Adam updates every tensor in one pass: on a CPU its default per-tensor
    # loop took 29% of a tagger's training epoch at two threads, 7x the fused step
    # (benchmarks/probes/tagger_step.py); the two differ by rounding only.
    fused = {"fused": True} if _fusable(params) else {}
    optimizer = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay, **fused)


def _fusable(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused Adam takes all of ``params`` (dense CPU or CUDA floats)."""
    return all(
        p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point and not p.is_sparse
        for p in params
    )


class Schedule:
    """The learning rate of each epoch: linear warm-up, then step/exponential/cosine/plateau.

    Written out here rather than composed from ``torch.optim.lr_scheduler`` because torch
    cannot chain a warm-up with ReduceLROnPlateau, and because a closed form per epoch keeps
    the state tiny and JSON-safe for checkpoints.

    With base rate ``lr``, warm-up length ``W`` and ``t = epoch - W`` (epochs counted from 0):

    - warm-up (epoch < W): ``lr * (epoch + 1) / (W + 1)``
    - "none": ``lr``;  "step": ``lr * gamma ** (t // step_size)``;  "exponential":
      ``lr * gamma ** t``;  "cosine": ``min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2``
      with ``T = epochs - W``;  "plateau": ``lr * gamma ** k`` after k reductions.

    Every rate after warm-up is floored at ``min_lr``. With ``schedule_per="step"`` the
    loop calls :meth:`at` with the fraction of the run done instead (see TrainConfig).

    Args:
        config: the run's TrainConfig.
    """

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.reductions = 0  # plateau: how many times the rate was cut
        self.best: float | None = None  # plateau: best monitored value so far
        self.bad_epochs = 0  # plateau: epochs since the best

    def lr(self, epoch: int) -> float:
        """Return the learning rate for the epoch with 0-based index ``epoch``."""
        cfg = self.config
        warm = cfg.warmup_epochs
        if epoch < warm:
            return cfg.lr * (epoch + 1) / (warm + 1)
        t = epoch - warm
        if cfg.schedule == "step":
            rate = cfg.lr * cfg.gamma ** (t // cfg.step_size)
        elif cfg.schedule == "exponential":
            rate = cfg.lr * cfg.gamma**t
        elif cfg.schedule == "cosine":
            horizon = max(1, cfg.epochs - warm)
            rate = cfg.min_lr + (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t / horizon)) / 2
        elif cfg.schedule == "plateau":
            rate = cfg.lr * cfg.gamma**self.reductions
        else:
            rate = cfg.lr
        return max(rate, cfg.min_lr)

    def at(self, progress: float) -> float:
        """Return the learning rate at fraction ``progress`` of the run (clipped to [0, 1]).

        The per-step schedule: warm-up over the first ``w = warmup_epochs / epochs`` of the
        run, ``lr * p / w``, then "cosine" from ``lr`` to ``min_lr`` over the rest, or ``lr``.
        """
        cfg = self.config
        p = min(max(progress, 0.0), 1.0)
        warm = min(1.0, cfg.warmup_epochs / cfg.epochs)
        if p < warm:
            return cfg.lr * p / warm
        rate = cfg.lr
        if cfg.schedule == "cosine":
            t = (p - warm) / (1.0 - warm) if warm < 1.0 else 1.0
            rate = cfg.min_lr + (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t)) / 2
        return max(rate, cfg.min_lr)

    def observe(self, epoch: int, metric: float | None) -> None:
        """Feed the monitored metric at the end of epoch ``epoch`` (0-based) to "plateau".

        Warm-up epochs are not judged: the rate is still rising there.
        """
        cfg = self.config
        if cfg.schedule != "plateau" or epoch < cfg.warmup_epochs or metric is None:
            return
        if is_improvement(metric, self.best, cfg.mode, cfg.min_delta):
            self.best, self.bad_epochs = metric, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > cfg.plateau_patience:
            self.reductions += 1
            self.bad_epochs = 0

    def state_dict(self) -> dict[str, Any]:
        """Return the JSON-safe state (only "plateau" has any)."""
        return {"reductions": self.reductions, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state from :meth:`state_dict`."""
        self.reductions = int(state["reductions"])
        self.best = None if state["best"] is None else float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])


def is_improvement(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Return True if ``value`` beats ``best`` by more than ``min_delta`` in direction ``mode``.

    NaN never improves; anything finite improves on no best at all.
    """
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """Return the parameters the L1/L2 penalties apply to: trainable, with 2+ dimensions.

    Biases and norm gains (1-D) are left out, as is usual: penalising them only pulls the
    activations' offsets towards zero without limiting the model's capacity.
    """
    return [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]


def regularization_penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor | None:
    """Return ``l1 * sum|w| + l2 * sum w**2`` over :func:`penalized_weights`, or None if both are 0.

    Args:
        model: the module being trained.
        l1: L1 coefficient.
        l2: L2 coefficient (note: no factor 1/2, so its gradient is ``2 * l2 * w``).

    Returns:
        A scalar tensor that carries gradients, or None when there is nothing to add.
    """
    if l1 == 0 and l2 == 0:
        return None
    total = None
    for w in penalized_weights(model):
        term = 0
        if l1:
            term = term + l1 * w.abs().sum()
        if l2:
            term = term + l2 * w.square().sum()
        total = term if total is None else total + term
    return total


def clip_gradients(parameters: list[torch.Tensor], max_norm: float | None) -> float:
    """Clip gradients to global L2 norm ``max_norm`` and return the norm BEFORE clipping.

    Matches ``torch.nn.utils.clip_grad_norm_``: if the norm exceeds ``max_norm`` every
    gradient is multiplied by ``max_norm / (norm + 1e-6)``.

    Args:
        parameters: parameters whose ``.grad`` to clip (those without a grad are skipped).
        max_norm: the bound, or None to only measure.

    Returns:
        The global gradient norm before clipping, as a float (may be inf or nan).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    if max_norm is not None:
        return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))
    norms = torch.stack([torch.linalg.vector_norm(g.detach()) for g in grads])
    return float(torch.linalg.vector_norm(norms))
