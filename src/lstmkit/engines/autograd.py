"""The autograd engine: the equations of `lstmkit.cells` in a plain Python loop over time.

It supports every layer, variant and option, and torch's autograd does the BPTT, which
makes it the oracle the faster engines are tested against. It still does the one cheap
thing every fast engine does: the input projections of all steps as a single GEMM. Being
plain torch ops, it is also what a tracer (ONNX export, torch.jit.trace) can record.

`step` is the one recurrent step with its noise, shared with `LSTMCell`, `GRUCell` and
`RNNCell`, so that stepping a cell by hand is the layer's own arithmetic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.cells import STEPS, Record, State, zoneout
from lstmkit.engines import DirectionWeights, EngineOutput, LayerSpec, recompute
from lstmkit.engines.stack import draw_masks, each_direction, run_stack


class AutogradEngine:
    """Step-by-step loop in PyTorch ops; supports everything."""

    name = "autograd"

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        return None

    def run(
        self,
        spec: LayerSpec,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        if recompute.applies(spec, x, record):
            return recompute.run_bounded(spec, x, lengths, hx, run_segment)
        return run_stack(spec, x, lengths, hx, record, RUN_LAYER)


def step(
    spec: LayerSpec,
    w: DirectionWeights,
    weight_hh: Tensor,
    h_mask: Tensor | None,
    xw: Tensor,
    state: State,
    record: bool,
) -> tuple[State, Record | None]:
    """One step from the input projection xw = W_ih x_t + b_ih (B, G*H).

    The recurrent projection of the (dropped-out) h_{t-1}, the cell's equations, then
    zoneout on the new state. `weight_hh` is w.weight_hh after any weight drop.
    """
    h = state[0] if h_mask is None else state[0] * h_mask
    hw = F.linear(h, weight_hh, w.bias_hh)  # (B, G*H)
    new, rec = STEPS[spec.mode](xw, hw, state, w.params, spec.variant, record)
    if any(spec.noise.zoneout):
        new = zoneout(new, state, spec.noise.zoneout, spec.training)
    return new, rec


def run_direction(
    spec: LayerSpec,
    w: DirectionWeights,
    x: Tensor,
    mask: Tensor | None,
    state: State,
    record: bool,
) -> tuple[Tensor, State, Record]:
    """One layer in one direction over (T, B, I); the input is already in processing order."""
    weight_hh, h_mask = draw_masks(spec, w, state)
    return run_steps(spec, w, weight_hh, h_mask, x, mask, state, record)


def run_steps(
    spec: LayerSpec,
    w: DirectionWeights,
    weight_hh: Tensor,
    h_mask: Tensor | None,
    x: Tensor,
    mask: Tensor | None,
    state: State,
    record: bool,
) -> tuple[Tensor, State, Record]:
    """`run_direction` after the per-sequence masks are drawn: the steps over (T, B, I) from
    `state` (also one segment of a sequence, as `engines.recompute` runs it)."""
    xw = F.linear(x, w.weight_ih, w.bias_ih)  # (T, B, G*H): every step's input projection
    outputs, steps = [], []
    for t in range(x.shape[0]):
        new, rec = step(spec, w, weight_hh, h_mask, xw[t], state, record)
        if mask is not None:  # past a sequence's end its state stays as at its last step
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
        state = new
        outputs.append(state[0] if mask is None else _zero_past_end(state[0], mask[t]))
        if record:
            rec |= dict(zip(spec.state_names, state))  # the states as carried on
            steps.append(
                rec if mask is None else {k: _zero_past_end(v, mask[t]) for k, v in rec.items()}
            )
    gates = {k: torch.stack([s[k] for s in steps]) for k in steps[0]} if record else {}
    return torch.stack(outputs), state, gates


def run_segment(
    spec: LayerSpec,
    w: DirectionWeights,
    h_mask: Tensor | None,
    x: Tensor,
    mask: Tensor | None,
    state: State,
) -> tuple[Tensor, State]:
    """One segment of a direction for `recompute` (w.weight_hh is already dropped)."""
    out, state, _ = run_steps(spec, w, w.weight_hh, h_mask, x, mask, state, False)
    return out, state


def _zero_past_end(value: Tensor, valid: Tensor) -> Tensor:
    return torch.where(valid, value, value.new_zeros(()))


RUN_LAYER = each_direction(run_direction)
AUTOGRAD = AutogradEngine()

__all__ = ["AUTOGRAD", "AutogradEngine", "draw_masks", "run_direction", "run_steps", "step"]
