"""How a run ends: its result, the loop's exceptions, and the guard that holds Ctrl-C back."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from .progress import EpochProgress


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN or Inf; the broken step was not applied."""


def nonfinite_message(what: str, epoch: int, progress: EpochProgress, saved: Path | None) -> str:
    """The NonFiniteLossError text: where it happened, what was kept, what to try."""
    return (
        f"{what} at epoch {epoch}, step {progress.steps + 1} (batch {progress.batches + 1}); "
        f"training stopped before applying it and the last good checkpoint is "
        f"{saved or 'none'}. Lower lr, set clip_norm, or check the data for NaN/Inf"
    )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; a checkpoint was saved first if ``checkpoint_dir`` is set.

    A KeyboardInterrupt, so code that does not expect it still stops as on Ctrl-C.

    Attributes:
        checkpoint: path of the saved ``checkpoint.json``, or None without ``checkpoint_dir``.
        epoch: the 1-based epoch that was running.
        step: optimizer steps completed in that epoch.
    """

    def __init__(self, message: str, checkpoint: Path | None, epoch: int, step: int) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.step = step


@dataclass
class TrainResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model, holding the best epoch's weights when
            ``TrainConfig.restore_best`` (the default).
        history: one dict per epoch: epoch, train_loss, the validation metrics, lr (with
            ``schedule_per="step"``: the rate of the epoch's last step), grad_norm (mean
            pre-clip norm), grad_norm_max, seconds (training and validation), penalty with
            L1/L2, and in the row where the run ended early, stopped (``stop_reason``).
        best_epoch: 1-based epoch with the best ``monitor`` value (None if no epoch ran).
        best_metric: that value.
        monitor: the metric that chose it ("train_loss" when there was no validation).
        checkpoint: path of the last ``checkpoint.json`` written, or None.
        stopped_early: True if the run ended before ``epochs`` full epochs: see
            ``stop_reason``.
        stop_reason: the rule that ended it: "max_steps" or "max_seconds" (a budget ran
            out, after the step that spent it), the reason a callback or other code gave
            :meth:`Trainer.request_stop` (default "request_stop"; e.g. "pruned"),
            "patience", or None when it trained every epoch. The last history row holds it
            too, under "stopped".
    """

    model: nn.Module
    history: list[dict[str, Any]]
    best_epoch: int | None
    best_metric: float | None
    monitor: str
    checkpoint: Path | None
    stopped_early: bool
    stop_reason: str | None = None


class InterruptGuard:
    """Hold Ctrl-C back while a critical block runs, then raise it when the block ends.

    Used as ``with guard:`` around a whole run and ``with guard.critical():`` around each
    optimizer update and each epoch's bookkeeping, so a checkpoint never holds a
    half-applied update. One handler per run, not one per step: swapping handlers twice a
    step cost ~0.1 ms, as much as a tiny model's update. Outside critical blocks Ctrl-C
    raises KeyboardInterrupt at once, as usual. Only the main thread can own signal
    handlers; elsewhere, and when SIGINT is ignored, the guard changes nothing.
    """

    def __init__(self) -> None:
        self._critical = False
        self._pending = False
        # Under DDP every rank must stop at the same step: Ctrl-C only marks the run
        # (``pending``), and the loop's per-step agreement raises it on every rank at once.
        self.defer = False
        self._installed = False
        self._previous: Any = None

    def __enter__(self) -> InterruptGuard:
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            # None means a handler installed outside Python; Python's own is the fallback.
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
            self._installed, self._previous = False, None

    def _handle(self, signum: int, frame: Any) -> None:
        if self._critical or self.defer:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @property
    def pending(self) -> bool:
        """A Ctrl-C arrived and was held back."""
        return self._pending

    def clear(self) -> None:
        """Forget a held-back Ctrl-C (the caller raises it itself)."""
        self._pending = False

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """Run the block to its end even if Ctrl-C arrives; raise it afterwards."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._pending and not self.defer:
            self._pending = False
            raise KeyboardInterrupt
