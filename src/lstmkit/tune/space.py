"""Search spaces: what a trial may vary, read from a task's defaults and a TOML/JSON file.

A space maps a parameter (the task's command-line destination: ``hidden_size``, ``lr``,
``lookback``) to one of:

- ``{low = 8, high = 128, log = true}``: an int range (both ends ints) or a float range;
  ``step`` quantises it;
- ``{choices = [16, 32, 64]}`` or just ``[16, 32, 64]``: one of these values;
- a plain value: fixed, not searched (``ensemble = 1``).

A space file has a ``[space]`` table that overrides the task's default entry by entry
(``name = "default"`` is not special; to drop a default fix it to a value) and an optional
``[grid]`` table of value lists that ``--sampler grid`` visits exhaustively::

    [space]
    hidden_size = {low = 16, high = 64, log = true}
    [grid]
    hidden_size = [16, 32]
    lr = [1e-3, 3e-3]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmkit.tasks.options import read_mapping

__all__ = ["Param", "SpaceFile", "parse_space", "read_space_file", "suggest"]

Value = int | float | str | bool


@dataclass(frozen=True)
class Param:
    """One searched or fixed parameter.

    Args:
        name: the task's option destination (``hidden_size``).
        low, high: range ends (ints: an int range; else floats).
        log: sample the range on a log scale.
        step: quantisation of the range, or None.
        choices: the values of a categorical parameter.
        fixed: the value of a fixed parameter.

    >>> Param("lr", low=1e-4, high=1e-2, log=True).kind
    'float'
    """

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Value, ...] | None = None
    fixed: Value | None = None

    @property
    def kind(self) -> str:
        """``"fixed"``, ``"categorical"``, ``"int"`` or ``"float"``."""
        if self.fixed is not None:
            return "fixed"
        if self.choices is not None:
            return "categorical"
        ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high))
        return "int" if ints and (self.step is None or float(self.step).is_integer()) else "float"


def parse_param(name: str, spec: Any) -> Param:
    """A :class:`Param` from its file form (a table, a list, or a plain value)."""
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        if not isinstance(spec, (int, float, str, bool)):
            raise TypeError(f"search space {name!r}: {spec!r} is not a value, list or table")
        return Param(name, fixed=spec)
    unknown = sorted(set(spec) - {"low", "high", "log", "step", "choices"})
    if unknown:
        raise ValueError(
            f"search space {name!r}: unknown key(s) {unknown}; use low/high/log/step or choices"
        )
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"search space {name!r}: choices must be a non-empty list")
        return Param(name, choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise ValueError(f"search space {name!r}: a range needs both low and high")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise TypeError(f"search space {name!r}: low and high must be numbers")
    if not low <= high or (log and low <= 0):
        raise ValueError(
            f"search space {name!r}: need low <= high (and low > 0 with log), got {low}, {high}"
        )
    return Param(name, low=low, high=high, log=log, step=spec.get("step"))


def parse_space(mapping: dict[str, Any]) -> dict[str, Param]:
    """Every entry of a space table as a :class:`Param`, keyed by name."""
    if not isinstance(mapping, dict):
        raise TypeError(f"a search space must be a table of parameters, got {mapping!r}")
    return {name: parse_param(name, spec) for name, spec in mapping.items()}


@dataclass(frozen=True)
class SpaceFile:
    """What a ``--space`` file says: overrides of the default space, and the grid if any."""

    space: dict[str, Param]
    grid: dict[str, list[Value]] | None


def read_space_file(path: str | Path) -> SpaceFile:
    """Read a ``--space`` file (``.toml`` or ``.json``).

    Args:
        path: the file; its ``[space]`` and ``[grid]`` tables are read, nothing else.

    Returns:
        The overrides and the grid.

    Raises:
        FileNotFoundError: no such file. ValueError: a malformed file or entry.
    """
    data = read_mapping(path, "--space")
    unknown = sorted(set(data) - {"space", "grid"})
    if unknown:
        raise ValueError(f"--space {path}: unknown table(s) {unknown}; use [space] and [grid]")
    grid = data.get("grid")
    if grid is not None:
        bad = [k for k, v in grid.items() if not isinstance(v, list) or not v]
        if not isinstance(grid, dict) or bad or not grid:
            raise ValueError(f"--space {path}: [grid] needs a non-empty list per parameter {bad}")
    return SpaceFile(parse_space(data.get("space", {})), grid)


def grid_size(grid: dict[str, list[Value]]) -> int:
    """How many points the grid has."""
    return math.prod(len(values) for values in grid.values())


def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Value]:
    """Draw one value per parameter from an Optuna ``trial`` (fixed ones as they are).

    Args:
        trial: an ``optuna.Trial``.
        space: the parameters.

    Returns:
        ``{name: value}`` for every parameter of ``space``.
    """
    values: dict[str, Value] = {}
    for name, p in space.items():
        if p.kind == "fixed":
            values[name] = p.fixed  # type: ignore[assignment]
        elif p.kind == "categorical":
            values[name] = trial.suggest_categorical(name, list(p.choices or ()))
        elif p.kind == "int":
            step = int(p.step or 1)
            values[name] = trial.suggest_int(name, int(p.low), int(p.high), step=step, log=p.log)
        else:
            values[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
    return values
