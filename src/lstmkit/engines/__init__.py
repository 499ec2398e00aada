"""Engines: interchangeable ways to run a recurrent layer's equations over time.

An engine takes a layer (its parameters and switches) and one batch in canonical form,
(T, B, I) time-major with optional lengths, and returns the outputs and final states. The
layer never decides how it is computed: `select.engine_for` is the one place that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Protocol

from torch import Tensor

if TYPE_CHECKING:
    from lstmkit.recurrent import RecurrentLayer


class EngineOutput(NamedTuple):
    output: Tensor  # (T, B, D*H_out), zero past each sequence's length
    states: tuple[Tensor, ...]  # each (L*D, B, size): h_n (and c_n for the LSTM)
    gates: dict[str, Tensor] | None  # each (L*D, T, B, size) when recorded


class Engine(Protocol):
    """What every engine provides."""

    name: str

    def unsupported(self, layer: RecurrentLayer, x: Tensor, record: bool) -> str | None:
        """Why this engine cannot run `layer` on `x` now, or None when it can."""
        ...

    def run(
        self,
        layer: RecurrentLayer,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        """Run every layer and direction over the batch."""
        ...
