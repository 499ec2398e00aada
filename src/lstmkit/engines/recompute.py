"""Bounded-memory training: keep every k-th state, recompute each segment in the backward pass.

A layer built with `checkpoint_every=k` runs a training step per direction in segments of k
steps. The forward pass keeps only the state at the start of each segment ((h, c), or h) and,
under zoneout, the random generator's state there; no gate, cell or input-projection buffer
outlives its segment. The backward pass reruns the segments, last first, through the same
engine (its own step code: the fused kernels or the autograd loop) with autograd on, and
backpropagates each at once from the gradient the later segment handed back. What a layer
keeps is then O(T/k) states plus one segment's O(k) buffers at a time, instead of O(T) buffers
(about 7 (B, H) floats per step for the plain LSTM); its input, output and their gradients
are O(T) as always (the caller holds them). The price is one more forward pass.

Exactness: the per-sequence noise (weight drop, the recurrent-dropout mask) is drawn once,
before the segments, in the order of the normal path, and handed to every segment; zoneout's
per-step masks are drawn inside the segment from the generator, whose state is restored for
the recomputation, so the recomputed steps are the forward's steps, and under the same seed
the normal path's. The gradients are the same per-step terms summed over segments: equal to
the normal path up to the order of the weight-gradient sums (~1e-16 relative in float64).
Gradients of bfloat16/float16 weights are summed over the segments in float32, cast once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from lstmkit.cells import StepParams
from lstmkit.engines import EngineOutput
from lstmkit.engines.fused_memory import WORKSPACE
from lstmkit.engines.spec import DirectionWeights, LayerSpec
from lstmkit.engines.stack import draw_masks, each_direction, run_stack

State = tuple[Tensor, ...]
# How an engine runs one segment of one direction: (spec, weights (weight_hh after weight
# drop), recurrent-dropout mask or None, x (k, B, I) in processing order, valid mask (k, B, 1)
# or None, state each (B, size)) -> (output (k, B, P), state). It draws the segment's zoneout
# masks from the global generator, in step order.
RunSegment = Callable[
    [LayerSpec, DirectionWeights, Tensor | None, Tensor, Tensor | None, State],
    tuple[Tensor, State],
]
LOW_PRECISION = (torch.bfloat16, torch.float16)


def applies(spec: LayerSpec, x: Tensor, record: bool) -> bool:
    """Whether this call runs bounded-memory: asked for, a training step, longer than k steps.

    Inference saves nothing anyway, and recording gates keeps every step by definition.
    """
    k = spec.checkpoint_every
    if not k or record or x.shape[0] <= k or not torch.is_grad_enabled():
        return False
    return x.requires_grad or spec.weights_require_grad()


def run_bounded(
    spec: LayerSpec, x: Tensor, lengths: Tensor | None, hx: State, run_segment: RunSegment
) -> EngineOutput:
    """Every layer of `spec` over (T, B, I) `x`, each direction in recomputed segments.

    Args:
        spec: the layer (spec.checkpoint_every = k); x: (T, B, I); lengths: (B,) or None.
        hx: initial states, each (L*D, B, size); run_segment: the engine's segment runner.
    Returns:
        The engine's output: last layer's output, final states, no gates.
    """
    run_direction = functools.partial(_direction, run_segment)
    return run_stack(spec, x, lengths, hx, False, each_direction(run_direction))


def _direction(
    run_segment: RunSegment,
    spec: LayerSpec,
    w: DirectionWeights,
    x: Tensor,
    mask: Tensor | None,
    state: State,
    record: bool,
) -> tuple[Tensor, State, dict]:
    weight_hh, h_mask = draw_masks(spec, w, state)
    plan = Plan(spec, run_segment, h_mask, mask, len(state))
    flat = (w.weight_ih, weight_hh, w.bias_ih, w.bias_hh, *w.params)
    out, *final = Recompute.apply(plan, x, *state, *flat)
    return out, tuple(final), {}


@dataclass(frozen=True)
class Plan:
    """What every segment of one direction shares: the spec, the runner, the fixed masks."""

    spec: LayerSpec
    run_segment: RunSegment
    h_mask: Tensor | None  # (B, P) recurrent dropout, drawn once per sequence
    mask: Tensor | None  # (T, B, 1) valid steps in processing order
    num_states: int

    @property
    def draws(self) -> bool:
        """Whether the steps draw random numbers (zoneout in training)."""
        return self.spec.training and any(self.spec.noise.zoneout)

    def segments(self, steps: int) -> list[tuple[int, int]]:
        k = self.spec.checkpoint_every
        return [(a, min(a + k, steps)) for a in range(0, steps, k)]

    def run(self, flat: tuple, x: Tensor, a: int, b: int, state: State) -> tuple[Tensor, State]:
        """Steps a..b-1 from `state`; x is already x[a:b]."""
        w = DirectionWeights(*flat[:4], StepParams._make(flat[4:]))
        mask = None if self.mask is None else self.mask[a:b]
        return self.run_segment(self.spec, w, self.h_mask, x, mask, state)


class Recompute(torch.autograd.Function):
    """One direction of one layer: segments forward without saving, recomputed in backward.

    Inputs: plan, x (T, B, I), the states, then (w_ih, w_hh after weight drop, b_ih, b_hh,
    *StepParams), None where absent. Outputs: (T, B, P) and the final states.
    """

    @staticmethod
    def forward(ctx, plan: Plan, x: Tensor, *rest: Tensor | None):
        state, flat = tuple(rest[: plan.num_states]), rest[plan.num_states :]
        out, starts, generators = None, [], []
        for a, b in plan.segments(x.shape[0]):
            starts.append(state)
            if plan.draws:
                generators.append(torch.get_rng_state())
            segment, state = plan.run(flat, x[a:b], a, b, state)
            if out is None:
                out = _empty(segment, x.shape[0], *segment.shape[1:])
            out[a:b] = segment
        ctx.plan, ctx.num_flat, ctx.generators = plan, len(flat), generators
        ctx.save_for_backward(x, *flat, *(s for start in starts for s in start))
        return (out, *state)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout: Tensor, *dstate: Tensor):
        plan, (x, *saved) = ctx.plan, ctx.saved_tensors
        flat, n = saved[: ctx.num_flat], plan.num_states
        starts = [saved[i : i + n] for i in range(ctx.num_flat, len(saved), n)]
        needs = ctx.needs_input_grad
        want_x, want_flat = needs[1], needs[2 + plan.num_states :]
        dx = _empty(x, *x.shape) if want_x else None
        sums: list[Tensor | None] = [None] * len(flat)
        segments = plan.segments(x.shape[0])
        for j in reversed(range(len(segments))):
            a, b = segments[j]
            with torch.enable_grad(), torch.random.fork_rng(devices=[], enabled=plan.draws):
                if plan.draws:
                    torch.set_rng_state(ctx.generators[j])
                xs = x[a:b].detach().requires_grad_(want_x)
                start = tuple(s.detach().requires_grad_() for s in starts[j])
                ws = tuple(_leaf(t, want) for t, want in zip(flat, want_flat))
                segment, final = plan.run(ws, xs, a, b, start)
            leaves = [t for t in (xs, *start, *ws) if t is not None and t.requires_grad]
            grads = iter(torch.autograd.grad(
                (segment, *final), leaves, (dout[a:b], *dstate), allow_unused=True
            ))  # fmt: skip
            if want_x:
                dx[a:b] = _or_zeros(next(grads), xs)
            dstate = tuple(_or_zeros(next(grads), s) for s in start)
            for i, t in enumerate(ws):
                if t is not None and t.requires_grad:
                    sums[i] = _accumulate(sums[i], _or_zeros(next(grads), t))
        dflat = [None if s is None else s.to(t.dtype) for s, t in zip(sums, flat)]
        dstates = [g if need else None for g, need in zip(dstate, needs[2:])]
        return (None, dx, *dstates, *dflat)


def _empty(like: Tensor, *shape: int) -> Tensor:
    """A buffer of T steps (the output, d(x)): on the CPU from the fused engine's workspace,
    so that a training loop reuses its pages rather than faulting them in at every step."""
    if like.device.type == "cpu":
        return WORKSPACE.empty(*shape, dtype=like.dtype)
    return like.new_empty(shape)


def _leaf(t: Tensor | None, want: bool) -> Tensor | None:
    return None if t is None else t.detach().requires_grad_(want)


def _or_zeros(grad: Tensor | None, like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


def _accumulate(total: Tensor | None, grad: Tensor) -> Tensor:
    """Add a segment's weight gradient, in float32 for the low-precision dtypes."""
    if total is None:  # a copy: the engine's gradients may be views of one shared buffer
        dtype = torch.float32 if grad.dtype in LOW_PRECISION else grad.dtype
        return grad.to(dtype, copy=True)
    return total.add_(grad)
