"""The shape every task has: a config dataclass -> fit -> evaluate -> predict -> save / load.

A task is a class named after what it makes (`Forecaster`, `Classifier`, `Tagger`, ...):

- built from one small config dataclass, which is saved with it and rebuilds it;
- ``fit(data)`` trains through ``lstmkit.train`` and returns the task itself;
- ``evaluate(data)`` returns the field's metrics as a plain dict;
- ``predict(data)`` returns predictions for new input;
- ``save(directory)`` writes one artifact in the shared format (`lstmkit.io`), whose
  ``kind`` is the task's `kind`; ``load(directory)`` verifies and rebuilds it.

`Task` states this as a protocol that type checkers and the tests hold every task to;
tasks may take extra keyword arguments and offer more methods (``sample``, ``backtest``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Task"]


@runtime_checkable
class Task(Protocol):
    """What `lstmkit tune`, `inspect` and `export` can rely on for any task."""

    kind: ClassVar[str]  # the artifact kind, also the CLI subcommand: "forecast", "tag", ...
    config: Any  # the task's config dataclass

    def fit(self, data: Any) -> Self:
        """Train on ``data``; returns self."""
        ...

    def evaluate(self, data: Any) -> dict[str, Any]:
        """The field's metrics on ``data``."""
        ...

    def predict(self, data: Any) -> Any:
        """Predictions for ``data``."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the trained task as one artifact; returns its ``artifact.json``."""
        ...

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Self:
        """Read and verify an artifact that ``save`` wrote."""
        ...
