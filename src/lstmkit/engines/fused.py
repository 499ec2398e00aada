"""The fused engine: one input GEMM per layer, a compiled step loop, a hand-written BPTT.

Every LSTM variant and combination (peephole, CIFG, layer norm, projection, recurrent
dropout, zoneout, weight drop), the GRU and both Elman RNNs; stacked, bidirectional,
lengths or packed input, inter-layer dropout; float32 and float64 on the CPU (bfloat16
layers run it in float32, engines/precision.py, or, on AVX-512 BF16, its layer code with
the bfloat16 kernel's step products, engines/bf16_kernel.py); bounded-memory training
through `engines.recompute`.

How it is fast (measurements in benchmarks/README.md):
- the input projections of all steps are one GEMM (torch), as are the weight gradients
  after the backward loop (engines/fused_ops.py);
- what must run step by step is C (engines/kernels/): the recurrent GEMM on weights packed
  once per call, with the gate math fused after it in vectorised loops and preallocated
  buffers; batch rows are split across threads, so a step needs no barrier (small batches
  and large weights split the hidden units instead: `UNITS_BYTES`);
- reversed directions index each sequence's time in place (no gather), and steps past a
  sequence's length are skipped.

It runs through the shared stack runner (`stack.run_stack`: layers, lengths, inter-layer
dropout) but supplies one whole layer, both directions in one kernel call, rather than one
direction: the kernel reverses each sequence in place (no gather), writes both directions
into one output, and with two or more threads runs the directions at once, each on its own
threads, with no barrier between them. Per direction instead (two calls, the reverse one on
gathered input) took, against this, on a 2-core AVX2 EPYC at load average 5-13 (interleaved
minima; a busy machine, remeasure on a quiet one), L2 bidirectional: two threads,
(32,100,32,128) 1.05x in inference and 1.04x in training, (1,100,32,128) 1.37-1.45x in
training but 0.70x in inference (concurrent directions wait for a second core that a busy
machine rarely has free); one thread, (32,100,64,256) inference 0.89x.

Random masks are drawn in the autograd engine's order (weight drop, recurrent dropout,
then every step's zoneout masks, then inter-layer dropout), so that both engines give the
same result under the same seed. Zoneout's per-step draws are one `torch.rand` over all
steps: the CPU generator gives the same numbers as T separate draws of the step's shape.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

from lstmkit.cells import Record, State
from lstmkit.engines import DirectionWeights, EngineOutput, LayerSpec, recompute
from lstmkit.engines import fused_ops as ops
from lstmkit.engines.fused_build import available
from lstmkit.engines.stack import TimeSteps, draw_masks, run_stack

# Multiply-adds of the recurrent GEMMs per thread below which one more thread costs more
# (waking it, and on a busy machine waiting for it to be scheduled) than it saves.
MIN_WORK_PER_THREAD = 1 << 20
# Weight bytes per row of a thread's share above which the LSTM's threads split the hidden
# units, not the batch rows. Under the row split every thread streams the whole packed
# [W_ih, U] (4H x (I + H) floats: 17 MB at H=1024) at every step and reuses it over its
# own rows only; under the unit split each streams its 1/k share over all B rows. Measured
# (benchmarks/probes/step_split.py, 2 threads, T=100, I=32, 2-core Zen 5 EPYC with 2 MB L2
# per core and 32 MB L3, 2026-12-02 13:21 UTC at load 5-6 of niced neighbours; torch, rows,
# units in ms): B=16 inference H=1024 47.3 / 66.9 / 47.5, H=2048 282 / 364 / 273; training
# H=2048 774 / 942 / 782; B=4 (2 rows a thread) H=1024 inference 16.9 / 35.4 / 15.0,
# training 69.2 / 85.2 / 62.9, H=512 5.4 / 6.8 / 4.8 and 16.8 / 20.1 / 15.8. The row split
# stays ahead or level at 0.56 MB a row or less: B=16 H=512 (training 52.4 / 38.6 / 41.8),
# B=64 H=1024 (training 697 / 522 / 547, inference 171 / 170 / 167). Units from 1 MiB a row
# (B=16 H=1024: 2.2 MB a row, B=4 H=512: 2.3 MB).
UNITS_BYTES = 1 << 20


class FusedEngine:
    """C step loops with hand-written BPTT; CPU, float32/float64, every variant."""

    name = "fused"

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        if record:
            return "recording gates needs a step-by-step engine"
        if x.device.type != "cpu":
            return f"the fused kernels run on the CPU, and the input is on {x.device.type}"
        if x.shape[1] == 0:
            return "the batch is empty"
        return available(x.dtype, "lstm" if spec.mode == "LSTM" else "gru")

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
        layer = functools.partial(run_layer, layer_config(spec, *x.shape[:2]))
        return run_stack(spec, x, lengths, hx, record, layer)


def run_layer(
    cfg: ops.Config,
    spec: LayerSpec,
    index: int,
    x: Tensor,
    time: TimeSteps,
    hx: State,
    record: bool,
) -> tuple[Tensor, State, list[Record]]:
    """One layer, both directions in one kernel call (see the module docstring for why);
    the bfloat16 kernel's layer too (engines/bf16_kernel.py, with `cfg.bf16`)."""
    masks, weights = zip(*(_direction(spec, index, d, x, hx) for d in range(spec.num_directions)))
    out, *finals = ops.layer(cfg, time.lengths, masks, x, hx, weights)
    return out, tuple(finals), []


def run_segment(
    spec: LayerSpec,
    w: DirectionWeights,
    h_mask: Tensor | None,
    x: Tensor,
    valid: Tensor | None,
    state: State,
    configure: Callable[[ops.Config, Tensor], ops.Config] | None = None,
) -> tuple[Tensor, State]:
    """One segment of one direction for `recompute`, in processing order (w.weight_hh is
    already dropped); the kernel's lengths are each sequence's valid steps in the segment.
    `configure(cfg, x)` adapts the layer's configuration (the bfloat16 kernel's)."""
    cfg = layer_config(spec, *x.shape[:2], directions=1)
    cfg = configure(cfg, x) if configure else cfg
    lengths = None if valid is None else valid.sum(0).view(-1)  # valid steps come first
    masks = ((h_mask, *_zoneout_masks(spec, x.shape[0], state)),)
    weights = ((w.weight_ih, w.bias_ih, w.weight_hh, w.bias_hh, *w.params),)
    out, *finals = ops.layer(cfg, lengths, masks, x, tuple(s[None] for s in state), weights)
    return out, tuple(f[0] for f in finals)


def _direction(
    spec: LayerSpec, index: int, direction: int, x: Tensor, hx: State
) -> tuple[tuple[Tensor | None, ...], tuple[Tensor | None, ...]]:
    """One direction's random masks, drawn in the autograd engine's order, and its weights."""
    w = spec.direction(index, direction)
    state = tuple(s[direction] for s in hx)
    w_hh, rmask = draw_masks(spec, w, state)
    masks = (rmask, *_zoneout_masks(spec, x.shape[0], state))
    return masks, (w.weight_ih, w.bias_ih, w_hh, w.bias_hh, *w.params)


def layer_config(spec: LayerSpec, steps: int, batch: int, directions: int = 0) -> ops.Config:
    """Sizes, switches and the threading plan of one layer call (of `directions` of its
    directions, all by default)."""
    h_size = spec.out_size
    directions = directions or spec.num_directions
    work = steps * batch * spec.num_gates * spec.hidden_size * h_size
    threads = max(1, min(torch.get_num_threads(), work // MIN_WORK_PER_THREAD))
    concurrent = directions == 2 and threads >= 2
    per_direction = threads // 2 if concurrent else threads
    # Split the hidden units instead of the rows (one barrier per step) when a thread would
    # have fewer than two rows, or too few to pay for the weights it streams (below);
    # layer norm and the projection need whole rows, so they keep the row split.
    variant = spec.variant
    units = (
        per_direction >= 2
        and (batch < 2 * per_direction or _weight_bytes(spec) * per_direction > UNITS_BYTES * batch)
        and spec.mode == "LSTM"
        and not spec.proj_size
        and not (variant and variant.layer_norm)
    )
    rates = spec.noise.zoneout if not spec.training else ()
    return ops.Config(
        mode=spec.mode,
        hidden=spec.hidden_size,
        out=h_size,
        gates=spec.num_gates,
        directions=directions,
        cifg=bool(variant and variant.cifg),
        zoneout_eval=(*rates, 0.0, 0.0)[:2],
        threads=per_direction if units else min(per_direction, batch),
        concurrent=concurrent,
        units=units,
    )


def _weight_bytes(spec: LayerSpec) -> int:
    """Bytes of the largest direction's [W_ih, U], what a row-split thread streams per step."""
    return max(
        (w.weight_ih.numel() + w.weight_hh.numel()) * w.weight_hh.element_size()
        for w in spec.weights
    )


def _zoneout_masks(spec: LayerSpec, steps: int, state: State) -> tuple[Tensor | None, ...]:
    """Training-mode keep-masks (T, B, size) per state, None where its rate is 0.

    The autograd engine draws, at each step, rand_like(h) then rand_like(c) (skipping a
    state whose rate is 0); one draw of (T, sum of sizes) consumes the generator alike.
    """
    rates = spec.noise.zoneout
    if not spec.training or not any(rates):
        return (None,) * len(state)
    sizes = [s.numel() if z else 0 for s, z in zip(state, rates)]
    draw = torch.rand(steps, sum(sizes), dtype=state[0].dtype, device=state[0].device)
    masks, start = [], 0
    for s, z, size in zip(state, rates, sizes):
        if not z:
            masks.append(None)
            continue
        keep = draw[:, start : start + size] < z
        masks.append(keep.to(s.dtype).view(steps, *s.shape))
        start += size
    return tuple(masks)


FUSED = FusedEngine()
