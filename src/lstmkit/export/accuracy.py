"""The task's own test metric with an onnxruntime model in place of its torch network."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.export.check import feeds

# kind -> (metric name, whether higher is better)
METRICS = {"forecast": ("sMAPE", False), "classify": ("accuracy", True)}


class OnnxNet(nn.Module):
    """An onnxruntime session behind a module's call: tensors in, tensors out."""

    def __init__(self, sess, names: Sequence[str], log: bool = False) -> None:
        super().__init__()
        self.sess, self.names, self.log = sess, list(names), log

    def forward(self, *args: Tensor) -> Tensor:
        out = torch.from_numpy(self.sess.run(None, feeds(self.sess, self.names, args))[0])
        # the exported classifier returns probabilities; the task takes logits through a
        # softmax, and softmax(log p) = p for probabilities that sum to one
        return out.clamp_min(1e-30).log() if self.log else out


@contextlib.contextmanager
def swapped(task: Any, net: nn.Module) -> Iterator[None]:
    """While open, the task runs `net` (the whole ensemble's mean) instead of its members."""
    attr = "models" if task.kind == "forecast" else "members"
    saved = getattr(task, attr)
    setattr(task, attr, [net])
    try:
        yield
    finally:
        setattr(task, attr, saved)


def task_metric(task: Any, net: nn.Module | None = None, data: Any = None) -> float:
    """The test metric of `METRICS` for `task`, run by `net` when given (else its own).

    Forecast: sMAPE of the first target on the run's own test part (its last H rows).
    Classify: accuracy on `data` (a test set the task reads).
    """
    if task.kind not in METRICS:
        raise ValueError(f"no test metric for {task.kind!r} runs (known: {', '.join(METRICS)})")
    with swapped(task, net) if net is not None else contextlib.nullcontext():
        if task.kind == "forecast":
            scores = task.evaluate()
            return float(next(iter(scores.values()))["lstmkit"]["sMAPE"])
        if data is None:
            raise ValueError("the classify metric needs test data (--test-dataset NAME)")
        return float(task.evaluate(data)["accuracy"])
