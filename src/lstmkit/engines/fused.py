"""The fused engine: one input GEMM per layer, a compiled step loop, a hand-written BPTT.

Every LSTM variant and combination (peephole, CIFG, layer norm, projection, recurrent
dropout, zoneout, weight drop), the GRU and both Elman RNNs; stacked, bidirectional,
lengths or packed input, inter-layer dropout; float32 and float64 on the CPU.

How it is fast (measurements in benchmarks/README.md):
- the input projections of all steps are one GEMM (torch), as are the weight gradients
  after the backward loop (engines/fused_ops.py);
- what must run step by step is C (engines/kernels/): the recurrent GEMM on weights packed
  once per call, with the gate math fused after it in vectorised loops and preallocated
  buffers; batch rows are split across threads, so a step needs no barrier;
- reversed directions index each sequence's time in place (no gather), and steps past a
  sequence's length are skipped.

Random masks are drawn in the autograd engine's order (weight drop, recurrent dropout,
then every step's zoneout masks, then inter-layer dropout), so that both engines give the
same result under the same seed. Zoneout's per-step draws are one `torch.rand` over all
steps: the CPU generator gives the same numbers as T separate draws of the step's shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from lstmkit.engines import EngineOutput
from lstmkit.engines import fused_ops as ops
from lstmkit.engines.fused_build import available

if TYPE_CHECKING:
    from lstmkit.layers import RecurrentLayer

# Multiply-adds of the recurrent GEMMs per thread below which one more thread costs more
# (waking it, and on a busy machine waiting for it to be scheduled) than it saves.
MIN_WORK_PER_THREAD = 1 << 20


class FusedEngine:
    """C step loops with hand-written BPTT; CPU, float32/float64, every variant."""

    name = "fused"

    def unsupported(self, layer: RecurrentLayer, x: Tensor, record: bool) -> str | None:
        if record:
            return "recording gates needs a step-by-step engine"
        if x.device.type != "cpu":
            return f"the fused kernels run on the CPU, and the input is on {x.device.type}"
        if x.shape[1] == 0:
            return "the batch is empty"
        return available(x.dtype, "lstm" if layer.mode == "LSTM" else "gru")

    def run(
        self,
        layer: RecurrentLayer,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        finals: list[list[Tensor]] = [[] for _ in hx]
        threads = _threads(layer, *x.shape[:2])
        inputs = x
        for layer_index in range(layer.num_layers):
            outputs = []
            for direction in range(layer.num_directions):
                k = layer_index * layer.num_directions + direction
                state = tuple(s[k] for s in hx)
                out, states = run_direction(
                    layer, layer_index, direction, inputs, state, lengths, threads
                )
                outputs.append(out)
                for final, s in zip(finals, states):
                    final.append(s)
            inputs = torch.cat(outputs, -1) if len(outputs) > 1 else outputs[0]
            if layer.training and layer.dropout and layer_index < layer.num_layers - 1:
                inputs = F.dropout(inputs, layer.dropout, training=True)
        states = tuple(torch.stack(final) for final in finals)
        return EngineOutput(inputs, states, None)


def run_direction(
    layer: RecurrentLayer,
    layer_index: int,
    direction: int,
    x: Tensor,
    state: tuple[Tensor, ...],
    lengths: Tensor | None,
    threads: int,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One layer in one direction over (T, B, I) in natural time order."""
    w = layer.direction(layer_index, direction)
    noise = layer.noise if layer.training else None
    w_hh = noise.drop_weight(w.weight_hh) if noise else w.weight_hh
    rmask = noise.recurrent_mask(state[0]) if noise else None
    zmasks = _zoneout_masks(layer, x, state)
    rates = layer.noise.zoneout if not layer.training else ()
    cfg = ops.Config(
        mode=layer.mode,
        hidden=layer.hidden_size,
        gates=layer.num_gates,
        cifg=bool(layer.variant and layer.variant.cifg),
        reverse=direction == 1,
        zoneout_eval=(*rates, 0.0, 0.0)[:2],
        threads=threads,
    )
    if layer.mode == "GRU":
        xw = F.linear(x, w.weight_ih, w.bias_ih)  # (T, B, 3H): b_hn stays inside r ⊙ (.)
        out, h = ops.gru(cfg, lengths, (rmask, zmasks[0]), xw, state[0], w_hh, w.bias_hh)
        return out, (h,)
    bias = None if w.bias_ih is None else w.bias_ih + w.bias_hh
    xw = F.linear(x, w.weight_ih, bias)  # (T, B, G*H): every step's input projection
    if layer.mode != "LSTM":
        out, h = ops.gru(cfg, lengths, (rmask, zmasks[0]), xw, state[0], w_hh, None)
        return out, (h,)
    out, h, c = ops.lstm(cfg, lengths, (rmask, *zmasks), xw, *state, w_hh, tuple(w.params))
    return out, (h, c)


def _threads(layer: RecurrentLayer, steps: int, batch: int) -> int:
    """torch's thread count, fewer for small problems and never more than the batch rows."""
    h_size = layer.proj_size or layer.hidden_size
    work = steps * batch * layer.num_gates * layer.hidden_size * h_size
    return max(1, min(torch.get_num_threads(), batch, work // MIN_WORK_PER_THREAD))


def _zoneout_masks(
    layer: RecurrentLayer, x: Tensor, state: tuple[Tensor, ...]
) -> tuple[Tensor | None, ...]:
    """Training-mode keep-masks (T, B, size) per state, None where its rate is 0.

    The autograd engine draws, at each step, rand_like(h) then rand_like(c) (skipping a
    state whose rate is 0); one draw of (T, sum of sizes) consumes the generator alike.
    """
    rates = layer.noise.zoneout
    if not layer.training or not any(rates):
        return (None,) * len(state)
    steps = x.shape[0]
    sizes = [s.numel() if z else 0 for s, z in zip(state, rates)]
    draw = torch.rand(steps, sum(sizes), dtype=x.dtype, device=x.device)
    masks, start = [], 0
    for s, z, size in zip(state, rates, sizes):
        if not z:
            masks.append(None)
            continue
        keep = draw[:, start : start + size] < z
        masks.append(keep.to(x.dtype).view(steps, *s.shape))
        start += size
    return tuple(masks)


FUSED = FusedEngine()
