"""Callbacks: code a run calls at its steps, epochs and checkpoints, e.g. to draw, prune or log."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..seed import RngState

if TYPE_CHECKING:
    from .loop import Trainer
    from .run import TrainResult

HOOKS = (
    "on_fit_start",
    "on_epoch_start",
    "on_step_end",
    "on_epoch_end",
    "on_checkpoint",
    "on_fit_end",
)


@dataclass(frozen=True)
class StepInfo:
    """What :meth:`Callback.on_step_end` learns about the optimizer step just applied.

    Attributes:
        epoch: the 1-based epoch being trained.
        step: optimizer steps so far in this epoch (1 after its first).
        global_step: optimizer steps so far in the whole run, resumed parts included.
        batch: 0-based batch of the epoch the step trained (several steps with ``tbptt``).
        loss: the objective's loss of the step.
        penalty: the L1/L2 penalty added to it (0.0 without).
        grad_norm: the gradient norm before clipping.
        lr: the learning rate the step used.
    """

    epoch: int
    step: int
    global_step: int
    batch: int
    loss: float
    penalty: float
    grad_norm: float
    lr: float


class Callback:
    """Base class of the code a run calls as it goes: override the hooks you need.

    Every hook receives the :class:`Trainer` first: read ``trainer.state`` (history, best
    epoch, steps, time), ``trainer.model``, ``trainer.config``; call
    ``trainer.request_stop(reason)`` to end the run, with ``reason`` in
    ``TrainResult.stop_reason``. Callbacks run in the order given to ``fit``, each hook of
    all callbacks before the loop goes on. They draw from private copies of the global
    random generators, so adding or removing a callback never changes the trained weights
    and a resumed run stays exact.

    Set ``main_process_only = True`` on a callback that writes files or prints: it then runs
    only where the Trainer writes (``main_process``: rank 0 under DDP).

    >>> class StopAtLoss(Callback):
    ...     def __init__(self, target):
    ...         self.target = target
    ...
    ...     def on_epoch_end(self, trainer, record):
    ...         if record["train_loss"] < self.target:
    ...             trainer.request_stop(f"train_loss below {self.target}")
    """

    main_process_only: bool = False

    def on_fit_start(self, trainer: Trainer) -> None:
        """Once per ``fit`` call, after a resume has loaded the checkpoint."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before the batches of ``epoch`` (1-based) are drawn, also when a resumed run
        re-enters an interrupted epoch (the place for ``DistributedSampler.set_epoch``)."""

    def on_step_end(self, trainer: Trainer, step: StepInfo) -> None:
        """After each applied optimizer step. A stop requested here ends the epoch after
        this step; that partial epoch is validated, recorded and checkpointed as the last."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """After each epoch was trained, validated and counted (``trainer.state.history[-1]``
        is ``record``; the best epoch is updated), before its checkpoint and log line. Keys
        added to ``record`` reach the history, log and checkpoint. Ctrl-C waits for it, so
        the epoch, the callbacks' verdicts and the stop decision land together."""

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """After the Trainer wrote the checkpoint ``path`` (``checkpoint.json``), including
        the one saved on Ctrl-C."""

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        """When ``fit`` returns normally (not on NaN or Ctrl-C), best weights restored."""


class CallbackList:
    """The callbacks of one Trainer: checked once, then called hook by hook.

    A callback is any object with some of the hook methods (and, if it writes, a true
    ``main_process_only``); subclassing :class:`Callback` adds the no-op defaults. Duck
    typing lets floors that train must not import (``lstmkit.plots``) offer callbacks.

    Args:
        callbacks: the callbacks, called in this order.
        main_process: False skips the ``main_process_only`` callbacks.
    """

    def __init__(self, callbacks: Iterable[Any], *, main_process: bool) -> None:
        items = list(callbacks)
        for item in items:
            if not any(_implements(item, hook) for hook in HOOKS):
                raise TypeError(
                    f"callbacks must be objects with hook methods ({', '.join(HOOKS)}), e.g. "
                    f"subclasses of lstmkit.train.Callback; got {type(item).__name__}"
                )
        self.callbacks = [
            c for c in items if main_process or not getattr(c, "main_process_only", False)
        ]
        # Only hooks someone implements are called: the step hook runs thousands of times.
        self._users = {hook: [c for c in self.callbacks if _implements(c, hook)] for hook in HOOKS}

    def has(self, hook: str) -> bool:
        """True if any callback implements ``hook``."""
        return bool(self._users[hook])

    def fire(self, hook: str, trainer: Trainer, *args: Any) -> None:
        """Call ``hook`` of every callback that implements it, in order, with private
        generators (see :func:`private_generators`)."""
        users = self._users[hook]
        if not users:
            return
        with private_generators():
            for callback in users:
                getattr(callback, hook)(trainer, *args)


@contextmanager
def private_generators() -> Iterator[None]:
    """Run a block on a copy of the global generators, then put them back as they were.

    A callback that draws random numbers (a sample of generated text, a random probe) would
    otherwise shift the training's dropout and shuffling: the weights would depend on which
    callbacks ran, and a run resumed after such a callback would not be the same run.
    """
    saved = RngState.capture()
    try:
        yield
    finally:
        saved.restore()


def _implements(callback: Any, hook: str) -> bool:
    """True if ``callback`` has its own ``hook`` (not Callback's no-op default)."""
    if not callable(getattr(callback, hook, None)):
        return False
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)
