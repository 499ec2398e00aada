"""Engines: interchangeable ways to run a recurrent layer's equations over time.

An engine takes a `LayerSpec` (plain data: sizes, switches, mode and weights, built by the
module) and one batch in canonical form, (T, B, I) time-major with optional lengths, and
returns the outputs and final states. It never sees the nn.Module, and the module never
decides how it is computed: `select.engine_for` is the one place that does. The layer loop,
the directions, lengths and inter-layer dropout are `stack.run_stack`'s.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from torch import Tensor

from lstmkit.engines.spec import DirectionWeights, LayerSpec


class EngineOutput(NamedTuple):
    output: Tensor  # (T, B, D*H_out), zero past each sequence's length
    states: tuple[Tensor, ...]  # each (L*D, B, size): h_n (and c_n for the LSTM)
    gates: dict[str, Tensor] | None  # each (L*D, T, B, size) when recorded


class Engine(Protocol):
    """What every engine provides."""

    name: str

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        """Why this engine cannot run `spec` on `x` now, or None when it can."""
        ...

    def run(
        self,
        spec: LayerSpec,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        """Run every layer and direction over the batch."""
        ...


__all__ = ["DirectionWeights", "Engine", "EngineOutput", "LayerSpec"]
