"""bfloat16 (and float16) layers: low-precision storage; float32 arithmetic, or bfloat16
products accumulated in float32 (the bfloat16 kernel).

A layer whose parameters are bfloat16 (`lstmkit.LSTM(...).to(torch.bfloat16)`), or a float32
layer called under `torch.autocast("cpu", dtype=torch.bfloat16)`, runs one of two ways, and
`select.low_precision_plan()` says which applies on the running CPU and why.

The bfloat16 kernel (engines/bf16_kernel.py): the LSTM with every variant (peephole, CIFG,
layer norm, projection, recurrent dropout, zoneout, weight drop), the GRU and the RNN (any
number of layers, either direction, lengths, bounded memory), in inference and training, on
a CPU with AVX-512 BF16 where the kernel compiled. Its tensors (the LSTM's; the GRU's and
RNN's alike, except that their input projections of all steps are one float32 GEMM on W_ih's
and x's bfloat16 values, products exact in float32):

- bfloat16: the weights W_ih and W_hh (as stored; under autocast rounded at each call), each
  layer's input x_t (rounded under autocast; for layers 2+ the previous layer's float32
  output, rounded), h_{t-1} as the step product's operand (a rounded copy), and at the end
  the output and the final states (h_n, c_n), rounded once;
- float32: the products' accumulation (vdpbf16ps sums pairs of bfloat16 products into
  float32 lanes), b_ih + b_hh (each rounded, then summed in float32), the pre-activations,
  the gates, every variant's parameters (rounded, widened) and math, the projection, c_t
  and the carried h_t at every step, and h_0, c_0 (rounded first); in a training step, the
  backward: the float32 fused engine's BPTT (straight through the rounding of h), except
  the recurrent product d(h_{t-1}) = da_t U, whose da_t is rounded to bfloat16 (bfloat16
  products, float32 accumulation, as forward), and each weight gradient summed in float32
  and rounded to bfloat16 once, as below.

Everything else (float16, the "autograd" engine asked for, and every call on other CPUs)
widens, as follows:

- bfloat16: the parameters as stored (under autocast: rounded to bfloat16 at each call, as
  autocast rounds a matmul's operands), the input (rounded under autocast), the output and
  the final states (h_n, c_n), and the gradients of bfloat16 parameters and of the input;
- float32: everything in between. The weights and the input are widened once per call and the
  float32 engine (`select.engine_for` on the float32 layer: fused, or autograd) runs the
  layer: both projections accumulate in float32, the gates, the cell state c_t and h_t are
  float32 at every step, and each weight gradient is summed over all steps (and segments,
  under checkpoint_every) in float32 and rounded to bfloat16 once, by the widening's backward.

`layers_in(torch.bfloat16)` runs every lstmkit layer called inside it as a bfloat16 layer
(either way above) while the rest of a float32 model stays float32 (autocast would run its
Linear layers in bfloat16 too): the layer's results are rounded to bfloat16 and handed back
as float32, so that the float32 ops after it accept them. benchmarks/bf16_accuracy.py uses
it to measure what bfloat16 LSTM layers alone cost a task, apart from what bfloat16 heads
cost.

On this path no kernel reads bfloat16: the widening costs one pass over the weights and
the input per call, and the arithmetic is float32 throughout (what the bfloat16 kernel
saves in inference: twice the multiply-adds per instruction, half the bytes streamed).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

import torch
from torch import Tensor

from lstmkit.cells import StepParams
from lstmkit.engines import Engine, EngineOutput
from lstmkit.engines.spec import DirectionWeights, LayerSpec

LOW_PRECISION = (torch.bfloat16, torch.float16)
_LAYERS_IN: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar(
    "lstmkit_layers_in", default=None
)


@contextlib.contextmanager
def layers_in(dtype: torch.dtype) -> Iterator[None]:
    """Inside it, every float32 lstmkit layer call on the CPU stores `dtype` (bfloat16 or
    float16) as under autocast, and returns float32 tensors holding the rounded results."""
    if dtype not in LOW_PRECISION:
        raise ValueError(f"layers_in takes one of {LOW_PRECISION}, got {dtype}")
    token = _LAYERS_IN.set(dtype)
    try:
        yield
    finally:
        _LAYERS_IN.reset(token)


@contextlib.contextmanager
def full_width() -> Iterator[None]:
    """Neither autocast nor `layers_in`: the float32 call inside a low-precision one."""
    token = _LAYERS_IN.set(None)
    try:
        with torch.autocast("cpu", enabled=False):
            yield
    finally:
        _LAYERS_IN.reset(token)


def storage_dtype(x: Tensor) -> torch.dtype | None:
    """The low-precision dtype this call stores in (its own, CPU autocast's, or that of
    `layers_in`), else None."""
    if x.dtype in LOW_PRECISION:
        return x.dtype
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return None
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        return dtype if dtype in LOW_PRECISION else None
    return _LAYERS_IN.get()


def widened(spec: LayerSpec, dtype: torch.dtype) -> LayerSpec:
    """The layer with float32 weights: each rounded to `dtype` first (a no-op for weights
    already stored in it), then widened; both casts are differentiable."""

    def cast(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(dtype).float()

    weights = tuple(
        DirectionWeights(*(cast(t) for t in w[:4]), StepParams(*(cast(t) for t in w.params)))
        for w in spec.weights
    )
    return dataclasses.replace(spec, weights=weights)


class Float32Compute:
    """Runs a low-precision call on a float32 engine, storage in `dtype` (module docstring)."""

    def __init__(self, inner: Engine, dtype: torch.dtype) -> None:
        self.inner, self.dtype = inner, dtype
        self.name = f"{inner.name} ({str(dtype).removeprefix('torch.')} storage, float32 compute)"

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        return self.inner.unsupported(widened(spec, self.dtype), x.float(), record)

    def run(
        self,
        spec: LayerSpec,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        with full_width():
            wide = widened(spec, self.dtype)
            hx = tuple(s.to(self.dtype).float() for s in hx)
            result = self.inner.run(wide, x.to(self.dtype).float(), lengths, hx, record)
        narrow = self.dtype
        # under layers_in (a float32 call outside autocast) the rounded results go back
        # as float32, the dtype the ops after the layer expect
        back = (
            x.dtype if x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu") else narrow
        )

        def rounded(t: Tensor) -> Tensor:
            return t.to(narrow).to(back)

        gates = None if result.gates is None else {k: rounded(v) for k, v in result.gates.items()}
        return EngineOutput(rounded(result.output), tuple(rounded(s) for s in result.states), gates)
