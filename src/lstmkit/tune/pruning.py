"""The trial's ear in the Trainer: report each epoch's validation metric, stop when pruned."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lstmkit.train import Callback
from lstmkit.train.scope import extra_callbacks

__all__ = ["TrialReport", "reporting"]

# metric(trainer, record) -> float: the epoch's validation metric.
EpochMetric = Callable[[Any, dict], float]


def record_metric(name: str) -> EpochMetric:
    """An :data:`EpochMetric` that reads ``name`` from the epoch's history row."""

    def metric(trainer: Any, record: dict) -> float:
        if name not in record:
            raise ValueError(
                f"the epoch record has no {name!r} ({sorted(record)}); the task must validate"
            )
        return float(record[name])

    return metric


class TrialReport(Callback):
    """Report an epoch metric to an Optuna trial after every epoch, and stop when pruned.

    Optuna's pruning semantics: ``trial.report(value, step)`` then ``trial.should_prune()``;
    a pruned run stops after that epoch (``trainer.request_stop("pruned")``) and the search
    raises ``optuna.TrialPruned`` once the task's ``fit`` has returned. Steps count epochs
    across every ``fit`` of the trial (an ensemble's members one after another).

    Args:
        trial: the ``optuna.Trial``.
        metric: ``metric(trainer, record) -> float``.
        direction: ``"minimize"`` or ``"maximize"``: which value of a fit is its best.

    >>> class Trial:
    ...     def report(self, value, step): pass
    ...     def should_prune(self): return False
    >>> TrialReport(Trial(), record_metric("val_loss")).pruned
    False
    """

    def __init__(self, trial: Any, metric: EpochMetric, direction: str = "minimize") -> None:
        self.trial, self.metric, self.direction = trial, metric, direction
        self.step = 0
        self.pruned = False
        self.fit_bests: list[float] = []

    def on_fit_start(self, trainer: Any) -> None:
        self.fit_bests.append(float("nan"))

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        value = self.metric(trainer, record)
        best = self.fit_bests[-1]
        better = value < best if self.direction == "minimize" else value > best
        if best != best or better:  # nan: the fit's first epoch
            self.fit_bests[-1] = value
        self.step += 1
        self.trial.report(value, step=self.step)
        if self.trial.should_prune():
            self.pruned = True
            trainer.request_stop("pruned")

    def value(self) -> float:
        """The trial's result: the mean over its fits of each fit's best epoch metric."""
        if not self.fit_bests:
            raise ValueError("the task trained nothing, so the trial has no metric")
        return sum(self.fit_bests) / len(self.fit_bests)


@contextmanager
def reporting(trial: Any, metric: EpochMetric, direction: str) -> Iterator[TrialReport]:
    """Every ``fit`` inside the block reports to ``trial``; raises TrialPruned when pruned."""
    import optuna

    report = TrialReport(trial, metric, direction)
    with extra_callbacks(report):
        yield report
    if report.pruned:
        raise optuna.TrialPruned(f"pruned at epoch step {report.step}")
