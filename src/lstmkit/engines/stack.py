"""The one stack runner: layers in turn, both directions, lengths and inter-layer dropout.

An engine supplies how one layer runs (`RunLayer`); most supply only how one direction runs
and let `each_direction` do the rest: the reversed direction sees each sequence reversed
within its own length (padding stays in place), and its outputs are turned back. The random
draws therefore come in one order for every engine: per layer, each direction's own masks
(the engine's), then the inter-layer dropout mask.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.cells import Record, State
from lstmkit.engines import EngineOutput
from lstmkit.engines.spec import DirectionWeights, LayerSpec
from lstmkit.sequences import reverse_index, valid_mask


class TimeSteps:
    """The batch's time structure, shared by every layer of one call.

    The (T, B, 1) valid mask and the (T, B) reversal index are computed once, when a
    direction first needs them; engines that take lengths as they are never pay for them.
    """

    def __init__(self, lengths: Tensor | None, steps: int, batch: int, device: torch.device):
        self.lengths, self.steps, self.batch, self.device = lengths, steps, batch, device

    @cached_property
    def mask(self) -> Tensor | None:
        """True where step t is inside sequence b; None when every sequence has T steps."""
        return None if self.lengths is None else valid_mask(self.lengths, self.steps, self.device)

    @cached_property
    def reverse(self) -> Tensor:
        """(T, B) time indices reversing each sequence within its length (an involution)."""
        return reverse_index(self.lengths, self.steps, self.batch, self.device)


# One layer, every direction: (spec, layer index, input (T, B, I), time, initial states each
# (D, B, size), record) -> (output (T, B, D*P), final states each (D, B, size), one record
# dict per direction, {} when not recording).
RunLayer = Callable[
    [LayerSpec, int, Tensor, TimeSteps, State, bool], tuple[Tensor, State, list[Record]]
]
# One direction: (spec, its weights, input in processing order, mask (T, B, 1) or None,
# initial state each (B, size), record) -> (output (T, B, P), final state, record dict).
RunDirection = Callable[
    [LayerSpec, DirectionWeights, Tensor, Tensor | None, State, bool],
    tuple[Tensor, State, Record],
]


def run_stack(
    spec: LayerSpec,
    x: Tensor,
    lengths: Tensor | None,
    hx: State,
    record: bool,
    run_layer: RunLayer,
) -> EngineOutput:
    """Run every layer of `spec` over (T, B, I) `x`, each by `run_layer`.

    Args:
        spec: the layer; x: (T, B, I) time-major; lengths: (B,) int64 or None.
        hx: initial states, each (L*D, B, size); record: also return the activations.
        run_layer: how the engine runs one layer (`each_direction` builds it from one
            direction's runner).
    Returns:
        The output of the last layer, the final states (L*D, B, size) and, when recording,
        every activation stacked as (L*D, T, B, size).
    """
    depth = spec.num_directions
    time = TimeSteps(lengths, x.shape[0], x.shape[1], x.device)
    finals: list[State] = []
    records: list[Record] = []
    inputs = x
    for index in range(spec.num_layers):
        states = tuple(s[index * depth : (index + 1) * depth] for s in hx)
        inputs, layer_finals, layer_records = run_layer(spec, index, inputs, time, states, record)
        finals.append(layer_finals)
        records += layer_records
        if spec.training and spec.dropout and index < spec.num_layers - 1:
            inputs = F.dropout(inputs, spec.dropout, training=True)
    states = tuple(torch.cat(parts) if len(parts) > 1 else parts[0] for parts in zip(*finals))
    gates = {n: torch.stack([r[n] for r in records]) for n in records[0]} if record else None
    return EngineOutput(inputs, states, gates)


def each_direction(run_direction: RunDirection) -> RunLayer:
    """A layer runner from a one-direction runner: reversal, concatenation, final states."""

    def run_layer(
        spec: LayerSpec, index: int, x: Tensor, time: TimeSteps, hx: State, record: bool
    ) -> tuple[Tensor, State, list[Record]]:
        outputs, records = [], []
        finals: list[list[Tensor]] = [[] for _ in hx]
        for direction in range(spec.num_directions):
            w = spec.direction(index, direction)
            seq = x if direction == 0 else gather_time(x, time.reverse)
            state = tuple(s[direction] for s in hx)
            out, state, rec = run_direction(spec, w, seq, time.mask, state, record)
            if direction == 1:
                out = gather_time(out, time.reverse)
                rec = {name: gather_time(v, time.reverse) for name, v in rec.items()}
            outputs.append(out)
            records.append(rec)
            for final, s in zip(finals, state):
                final.append(s)
        out = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
        return out, tuple(torch.stack(f) for f in finals), records

    return run_layer


def draw_masks(spec: LayerSpec, w: DirectionWeights, state: State) -> tuple[Tensor, Tensor | None]:
    """One direction's training noise for a whole sequence: the recurrent weight after weight
    drop, then the recurrent-dropout mask on h (None when off), drawn in that order."""
    if not spec.training:
        return w.weight_hh, None
    return spec.noise.drop_weight(w.weight_hh), spec.noise.recurrent_mask(state[0])


def gather_time(x: Tensor, index: Tensor) -> Tensor:
    """Reorder (T, B, F) along time, per sequence, with a (T, B) index."""
    return x.gather(0, index.unsqueeze(-1).expand_as(x))
