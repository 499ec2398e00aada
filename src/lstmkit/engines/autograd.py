"""The autograd engine: the equations of `lstmkit.cells` in a plain Python loop over time.

It supports every layer, variant and option, and torch's autograd does the BPTT, which
makes it the oracle the faster engines are tested against. It still does the one cheap
thing every fast engine does: the input projections of all steps as a single GEMM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.cells import State, zoneout
from lstmkit.engines import EngineOutput
from lstmkit.sequences import reverse_index, valid_mask

if TYPE_CHECKING:
    from lstmkit.recurrent import RecurrentLayer


class AutogradEngine:
    """Step-by-step loop in PyTorch ops; supports everything."""

    name = "autograd"

    def unsupported(self, layer: RecurrentLayer, x: Tensor, record: bool) -> str | None:
        return None

    def run(
        self,
        layer: RecurrentLayer,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        steps, batch, _ = x.shape
        mask = None if lengths is None else valid_mask(lengths, steps, x.device)
        rev = reverse_index(lengths, steps, batch, x.device) if layer.bidirectional else None
        finals: list[list[Tensor]] = [[] for _ in hx]
        records: list[dict[str, Tensor]] = []
        inputs = x
        for layer_index in range(layer.num_layers):
            outputs = []
            for direction in range(layer.num_directions):
                k = layer_index * layer.num_directions + direction
                seq = inputs if direction == 0 else _gather_time(inputs, rev)
                out, state, rec = run_direction(
                    layer, layer_index, direction, seq, tuple(s[k] for s in hx), mask, record
                )
                if direction == 1:
                    out = _gather_time(out, rev)
                    rec = {name: _gather_time(v, rev) for name, v in rec.items()}
                outputs.append(out)
                records.append(rec)
                for final, s in zip(finals, state):
                    final.append(s)
            inputs = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
            if layer.training and layer.dropout and layer_index < layer.num_layers - 1:
                inputs = F.dropout(inputs, layer.dropout, training=True)
        states = tuple(torch.stack(final) for final in finals)
        gates = {n: torch.stack([r[n] for r in records]) for n in records[0]} if record else None
        return EngineOutput(inputs, states, gates)


def run_direction(
    layer: RecurrentLayer,
    layer_index: int,
    direction: int,
    x: Tensor,
    state: State,
    mask: Tensor | None,
    record: bool,
) -> tuple[Tensor, State, dict[str, Tensor]]:
    """One layer in one direction over (T, B, I); the input is already in processing order."""
    w = layer.direction(layer_index, direction)
    noise = layer.noise if layer.training else None
    w_hh = noise.drop_weight(w.weight_hh) if noise else w.weight_hh
    h_mask = noise.recurrent_mask(state[0]) if noise else None
    xw = F.linear(x, w.weight_ih, w.bias_ih)  # (T, B, G*H): every step's input projection
    outputs, steps = [], []
    for t in range(x.shape[0]):
        h = state[0] if h_mask is None else state[0] * h_mask
        hw = F.linear(h, w_hh, w.bias_hh)  # (B, G*H)
        new, rec = layer.step(xw[t], hw, state, w.params, layer.variant, record)
        if any(layer.noise.zoneout):
            new = zoneout(new, state, layer.noise.zoneout, layer.training)
        if mask is not None:  # past a sequence's end its state stays as at its last step
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
        state = new
        outputs.append(state[0] if mask is None else _zero_past_end(state[0], mask[t]))
        if record:
            rec |= dict(zip(layer.state_names, state))  # the states as carried on
            steps.append(
                rec if mask is None else {k: _zero_past_end(v, mask[t]) for k, v in rec.items()}
            )
    gates = {k: torch.stack([s[k] for s in steps]) for k in steps[0]} if record else {}
    return torch.stack(outputs), state, gates


def _zero_past_end(value: Tensor, valid: Tensor) -> Tensor:
    return torch.where(valid, value, value.new_zeros(()))


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """Reorder (T, B, F) along time, per sequence, with a (T, B) index."""
    return x.gather(0, index.unsqueeze(-1).expand_as(x))


AUTOGRAD = AutogradEngine()
