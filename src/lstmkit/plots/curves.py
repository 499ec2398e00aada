"""Learning curves of a training run (losses, other validation metrics, the learning rate),
drawn from a history or, as a training callback, while the run goes."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The object API needs no backend switch, so drawing never touches the user's pyplot state.
from matplotlib.figure import Figure

__all__ = ["LearningCurves", "plot_learning_curves"]

# History columns that are bookkeeping, not curves to compare across epochs.
_NOT_METRICS = {
    "epoch", "lr", "grad_norm", "grad_norm_max", "seconds", "penalty", "steps", "stopped",
}  # fmt: skip


def plot_learning_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    monitor: str | None = None,
    best_epoch: int | None = None,
    title: str = "Learning curves",
) -> Path:
    """Draw the per-epoch history of :func:`lstmkit.train.fit` as a PNG.

    Panels, top to bottom: every ``*loss`` column (log scale when it spans more than two
    decades), the other validation metrics if any (accuracy, F1, ...), and the learning rate.
    A dashed line marks the best epoch.

    Args:
        history: one dict per epoch with at least ``epoch`` and ``train_loss``.
        path: where to write the PNG (parent folders are created).
        monitor: the metric that chose the best epoch, named in the legend.
        best_epoch: the epoch to mark; None marks nothing.
        title: figure title.

    Returns:
        The path written.
    """
    rows = list(history)
    if not rows:
        raise ValueError("history is empty: train at least one epoch before plotting")
    missing = [i for i, row in enumerate(rows) if "epoch" not in row or "train_loss" not in row]
    if missing:
        raise ValueError(f"history rows {missing[:5]} lack 'epoch' or 'train_loss'")
    epochs = [row["epoch"] for row in rows]
    keys = [k for k in _columns(rows) if k not in _NOT_METRICS]
    losses = [k for k in keys if "loss" in k]
    others = [k for k in keys if k not in losses]
    panels = [("loss", losses)] + ([("metric", others)] if others else [])
    has_lr = any("lr" in row for row in rows)

    figure = Figure(figsize=(7, 2.6 * (len(panels) + has_lr)), layout="constrained")
    axes = figure.subplots(len(panels) + has_lr, 1, sharex=True, squeeze=False)[:, 0]
    for ax, (label, names) in zip(axes, panels):
        _draw_metrics(ax, epochs, rows, names, label)
    if has_lr:
        _draw_lr(axes[-1], epochs, _series(rows, "lr"))
    if best_epoch is not None:
        tag = f"best epoch {best_epoch}" + (f" ({monitor})" if monitor else "")
        for ax in axes:
            ax.axvline(best_epoch, color="black", linestyle="--", linewidth=0.8, label=tag)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("epoch")
    figure.suptitle(title)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=100)
    return target


class LearningCurves:
    """A training callback that keeps a learning-curve picture of the run up to date.

    Pass it to ``lstmkit.train.fit(..., callbacks=[LearningCurves(path)])``. It has the
    hooks of ``lstmkit.train.Callback`` without importing it: plots and train are floors
    side by side, neither imports the other.

    Drawing costs about 0.1 s, so it is not done every epoch: after each checkpoint the
    trainer writes, every ``every`` epochs if set, and when ``fit`` returns (a picture is
    never drawn twice for the same epochs). Only the main process draws (DDP rank 0).

    Args:
        path: the picture to write (PNG; another suffix matplotlib knows picks its format).
        monitor: the metric whose best epoch is marked; None (default) marks the trainer's
            best epoch of its own monitor.
        mode: "min" or "max": which ``monitor`` value is best, when ``monitor`` is given.
        every: also redraw every this many epochs; None (default) only at checkpoints and
            at the end.
        title: the figure's title.

    >>> import tempfile, torch
    >>> from lstmkit.train import TrainConfig, fit
    >>> x = torch.linspace(-1, 1, 16).unsqueeze(1)
    >>> mse = lambda m, batch, state: torch.nn.functional.mse_loss(m(batch[0]), batch[1])
    >>> png = Path(tempfile.mkdtemp()) / "curves.png"
    >>> _ = fit(torch.nn.Linear(1, 1), mse, [(x, 2 * x)], TrainConfig(epochs=3, progress=False),
    ...         callbacks=[LearningCurves(png)])
    >>> png.read_bytes()[1:4]
    b'PNG'
    """

    main_process_only = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        monitor: str | None = None,
        mode: str = "min",
        every: int | None = None,
        title: str = "Learning curves",
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {path!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)):
            raise TypeError(f"every must be a positive int or None, got {every!r}")
        if every is not None and every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.every, self.title = every, title
        self._drawn: tuple[int, int] | None = None  # (which history, how many epochs) drawn

    def on_epoch_end(self, trainer: Any, record: dict[str, Any]) -> None:
        """Redraw every ``every`` epochs."""
        if self.every is not None and int(record["epoch"]) % self.every == 0:
            self.draw(trainer)

    def on_checkpoint(self, trainer: Any, path: Path) -> None:
        """Redraw beside each checkpoint."""
        self.draw(trainer)

    def on_fit_end(self, trainer: Any, result: Any) -> None:
        """Draw the finished run."""
        self.draw(trainer)

    def draw(self, trainer: Any) -> Path | None:
        """Draw the history of ``trainer`` (an ``lstmkit.train.Trainer``) now, unless those
        epochs are drawn already.

        Returns:
            The path written, or None if nothing new was drawn.
        """
        history = trainer.state.history
        drawn = (id(history), len(history))
        if not history or drawn == self._drawn:
            return None
        monitor, best = trainer.state.monitor, trainer.state.best_epoch
        if self.monitor is not None and self.monitor != monitor:
            monitor, best = self.monitor, _best_epoch(history, self.monitor, self.mode)
        written = plot_learning_curves(
            history, self.path, monitor=monitor, best_epoch=best, title=self.title
        )
        self._drawn = drawn
        return written


def _best_epoch(history: Sequence[Mapping[str, Any]], monitor: str, mode: str) -> int | None:
    scored = [row for row in history if row.get(monitor) is not None]
    if not scored:
        return None
    pick = min if mode == "min" else max
    return int(pick(scored, key=lambda row: float(row[monitor]))["epoch"])


def _draw_metrics(
    ax: Any, epochs: list[Any], rows: Sequence[Mapping[str, Any]], names: list[str], label: str
) -> None:
    for name in names:
        ax.plot(epochs, _series(rows, name), marker="o", markersize=3, label=name)
    values = [v for name in names for v in _series(rows, name) if math.isfinite(v)]
    # Losses often fall by orders of magnitude; a log axis keeps the late epochs readable.
    if values and min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    ax.set_ylabel(label)


def _draw_lr(ax: Any, epochs: list[Any], rates: list[float]) -> None:
    # The rate is constant within an epoch, so draw it as steps.
    ax.plot(epochs, rates, color="tab:gray", drawstyle="steps-mid", label="lr")
    positive = [r for r in rates if r > 0]
    if positive and max(positive) / min(positive) > 10:
        ax.set_yscale("log")
    ax.set_ylabel("learning rate")


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        seen += [k for k in row if k not in seen]
    return seen


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    # A metric missing in some epochs (e.g. validation every few epochs) is drawn as a gap.
    return [float(row[key]) if row.get(key) is not None else math.nan for row in rows]
