"""fit(): train a model with a task's objective in one call, the entry point of every task."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import nn

from .batches import Data
from .callbacks import Callback
from .config import TrainConfig
from .loop import Evaluate, Trainer
from .run import TrainResult
from .scope import active_callbacks


def fit(
    model: nn.Module,
    objective: Callable[..., Any],
    train_data: Data,
    config: TrainConfig | None = None,
    *,
    val_data: Any = None,
    evaluate: Evaluate | None = None,
    model_config: Mapping[str, Any] | None = None,
    resume: bool | str | os.PathLike[str] = False,
    callbacks: Iterable[Callback] = (),
    main_process: bool | None = None,
) -> TrainResult:
    """Train ``model`` with the task's ``objective``: the one loop every lstmkit task uses.

    Args:
        model: the module to train, already on its device.
        objective: ``objective(model, batch, state) -> loss`` or ``(loss, state)``; see
            :class:`lstmkit.train.Objective`.
        train_data: a re-iterable of batches (list, DataLoader) or a function
            ``epoch -> iterable`` (epoch counted from 1) that makes fresh batches; with
            ``config.batch_size`` set, examples instead (a Dataset, a tensor, or a tuple of
            tensors ``(x, y)``) that the loop batches and reshuffles every epoch.
        config: the TrainConfig; default ``TrainConfig()``.
        val_data: validation batches (same forms), or None.
        evaluate: ``evaluate(model, val_data) -> {"metric": value}``; default
            ``{"val_loss": mean objective loss}``.
        model_config: JSON-safe dict describing the model; saved and checked on resume.
        resume: True continues from ``config.checkpoint_dir``; a path continues from that
            checkpoint; False starts fresh (seeding everything from ``config.seed``).
        callbacks: objects with :class:`lstmkit.train.Callback`'s hooks, called at each
            step, epoch and checkpoint, in this order (``lstmkit.plots.LearningCurves``);
            those of an enclosing ``lstmkit.train.scope.extra_callbacks`` block run after.
        main_process: whether this process writes files and output; None: all but the
            ranks > 0 of an initialised ``torch.distributed`` group.

    Returns:
        A TrainResult with the model (best weights restored), history and checkpoint path.

    Raises:
        NonFiniteLossError: a NaN/Inf loss or gradient; nothing broken is saved.
        TrainingInterrupted: Ctrl-C; a checkpoint was saved when ``checkpoint_dir`` is set.
        CheckpointError: ``resume`` points at a corrupt or foreign checkpoint.

    >>> import torch
    >>> model = torch.nn.Linear(1, 1)
    >>> x = torch.linspace(-1, 1, 32).unsqueeze(1)
    >>> mse = lambda m, batch, state: torch.nn.functional.mse_loss(m(batch[0]), batch[1])
    >>> result = fit(model, mse, [(x, 3 * x)], TrainConfig(epochs=200, lr=0.1, progress=False))
    >>> result.history[-1]["train_loss"] < 1e-3
    True
    """
    trainer = Trainer(
        model,
        objective,
        config or TrainConfig(),
        evaluate=evaluate,
        model_config=model_config,
        callbacks=[*callbacks, *active_callbacks()],
        main_process=main_process,
    )
    return trainer.fit(train_data, val_data, resume=resume)
