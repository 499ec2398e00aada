"""The bfloat16 fused LSTM, GRU and RNN: bfloat16 products on AVX-512 BF16 (vdpbf16ps),
float32 gates.

What is bfloat16 and what is float32 in a call it runs (engines/precision.py has the whole
picture, this engine is its "bfloat16 kernel" case):

- bfloat16, the operands of the step product: the weights W_ih and W_hh (as stored, or
  rounded once per call under autocast; under weight drop, the dropped W_hh rounded), every
  layer's input x_t (the caller's, rounded under autocast; for layers 2+ the previous
  layer's float32 output rounded), and h_{t-1} (times the recurrent-dropout mask), rounded
  to bfloat16 for the product only; the GRU and the RNN step only h_{t-1} U^T so: their
  input projections of all steps are one float32 GEMM on W_ih's and x's bfloat16 values
  (exact products, float32 sums: what the kernel would compute, not faster);
- float32: the accumulation of [x_t, h_{t-1}] [W_ih, U]^T (vdpbf16ps adds pairs of
  bfloat16 products into float32 lanes), the bias b_ih + b_hh (summed in float32), the
  pre-activations, the gates and every variant's parameters and math (peepholes, CIFG,
  layer norms, the projection W_hr m on W_hr's bfloat16 values widened), zoneout, c_t
  and h_t as carried from step to step, the initial states (h_0, c_0 rounded to bfloat16
  first, as the float32-compute path rounds them);
- bfloat16 again: the output and the final states, rounded once at the end (under
  `precision.layers_in`, handed back as float32 holding the rounded values).

It runs every LSTM variant and combination the float32 fused engine runs (peephole, CIFG,
layer norm, projection, recurrent dropout, zoneout, weight drop; one or more layers, either
direction, lengths or padded batches, inter-layer dropout), through that engine's own layer
code (engines/fused.py, fused_ops.py, with `Config.bf16`: the masks are drawn in its order):
inference, and a training step's forward, which also saves what the backward reads ([x_t,
h_{t-1}] as the product used them, widened to float32), and its backward: the float32 fused
engine's BPTT (straight through the rounding of h), except that its recurrent product
d(h_{t-1}) = da_t U runs on the kernel too (da_t rounded to bfloat16, float32 accumulation:
kernels/lstm_rows_back.h, gru_rows.h); every weight gradient is one float32 GEMM over all
steps (of bfloat16 values: hin), those of bfloat16 parameters rounded once by the widening's
backward. The GRU and the RNN run alike (kernels/gru_bf16.c), and bounded-memory training
(checkpoint_every) runs its segments on the kernel; float16 keeps
`precision.Float32Compute`. `select` takes this engine only where the CPU has AVX-512 BF16
and the libraries compiled (`built`), so other CPUs never load them, unless the emulation
switch (`emulated`) asks for their code on any CPU.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os

import torch
from torch import Tensor

from lstmkit.cells import State, StepParams
from lstmkit.engines import (
    DirectionWeights,
    EngineOutput,
    LayerSpec,
    fused,
    fused_build,
    precision,
    recompute,
)
from lstmkit.engines import fused_ops as ops
from lstmkit.engines.stack import TimeSteps, run_stack

FAMILIES = ("lstm", "gru")  # libraries lstm_bf16 and gru_bf16 (the GRU's also runs the RNN)
BF16 = torch.bfloat16
DIRECTIONS = ("forward", "backward")  # each library's entries: lk_{family}_bf16_{direction}
# by (family, library suffix: "bf16", or "bf16emu" when emulated), then direction
_kernels: dict[tuple[str, str], dict[str, ctypes._CFuncPtr]] = {}
_failure: dict[str, str] = {}


def emulated() -> bool:
    """LSTMKIT_BF16_EMULATE=1: the kernel runs with vdpbf16ps emulated in float32 arithmetic
    (kernels/bf16_ops.h), on any CPU, so that its code is tested where the instruction is
    missing; several times slower, and never chosen without the switch.
    LSTMKIT_NO_AVX512_BF16 still turns the kernel off."""
    return bool(os.environ.get("LSTMKIT_BF16_EMULATE")) and not os.environ.get(
        "LSTMKIT_NO_AVX512_BF16"
    )


def built() -> str | None:
    """None when the bfloat16 libraries (emulated under `emulated()`) are compiled, loaded
    and passed their self-tests here, else why not (kept per process). Without emulation,
    call only where the CPU has AVX-512 BF16."""
    suffix = _suffix()
    if (FAMILIES[0], suffix) not in _kernels and suffix not in _failure:
        failure = _load(suffix)
        if failure:
            _failure[suffix] = failure
    return _failure.get(suffix)


def _suffix() -> str:
    return "bf16emu" if emulated() else "bf16"


def _load(suffix: str) -> str | None:
    real_flags = fused_build._cpu_flags().split()  # the CPU's, not a test's
    if suffix == "bf16" and "avx512_bf16" not in real_flags:
        return "this CPU's /proc/cpuinfo has no avx512_bf16 (the kernel is not loaded)"
    functions = {}
    for family in FAMILIES:
        try:
            lib = fused_build.library(f"{family}_bf16", suffix)
        except fused_build.KernelUnavailable as err:
            return f"the bfloat16 kernel did not compile ({str(err).splitlines()[0]})"
        test = lib.lk_bf16_selftest
        test.argtypes, test.restype = [], ctypes.c_int64
        if test() != 1:
            return "the bfloat16 kernel's self-test of vdpbf16ps failed"
        entries = {}
        for direction in DIRECTIONS:
            fn = getattr(lib, f"lk_{family}_bf16_{direction}")
            fn.argtypes = [ctypes.POINTER(fused_build.RecArgs), ctypes.c_int64, ctypes.c_int64]
            fn.restype = None
            entries[direction] = fn
        functions[family, suffix] = entries
    _kernels.update(functions)  # every family or none
    return None


def unsupported(spec: LayerSpec, x: Tensor, record: bool, dtype: torch.dtype) -> str | None:
    """Why this engine cannot run the call (the CPU check is `select`'s), or None."""
    if dtype != BF16:
        return f"the kernel reads bfloat16, not {dtype}"
    if record or x.device.type != "cpu" or x.shape[1] == 0:
        return "it runs CPU batches without gate recording"
    return None


def _training(spec: LayerSpec, x: Tensor) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or spec.weights_require_grad())


class Bf16Kernel:
    """The LSTM, GRU and RNN on the bfloat16 kernel (module docstring)."""

    name = "fused (bfloat16 kernel: bfloat16 products, float32 accumulation, gates and states)"

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        return unsupported(spec, x, record, precision.storage_dtype(x) or x.dtype) or built()

    def run(
        self,
        spec: LayerSpec,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        # under layers_in (a float32 call outside autocast) the rounded results go back as
        # float32, the dtype the ops after the layer expect
        layers_in = x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
        back = torch.float32 if layers_in else BF16
        with precision.full_width():
            training = _training(spec, x)
            if training or spec.mode != "LSTM":  # float32 (holding bfloat16 values): for
                x = x.to(BF16).float()  # the gradients the casts round, or the GRU's GEMM
            spec = _operands(spec, training)
            hx = tuple(s.to(BF16).float() for s in hx)
            if recompute.applies(spec, x, record):  # bounded memory: segments on the kernel
                result = recompute.run_bounded(spec, x, lengths, hx, _run_segment)
            else:
                result = run_stack(spec, x, lengths, hx, False, _run_layer)

        def rounded(t: Tensor) -> Tensor:
            return t.to(BF16).to(back)

        return EngineOutput(rounded(result.output), tuple(rounded(s) for s in result.states), None)


def _operands(spec: LayerSpec, training: bool) -> LayerSpec:
    """The weights as the kernel reads them: the step product's matrices (the LSTM's W_ih
    and W_hh, the GRU's and RNN's W_hh) in bfloat16, the rest float32 holding bfloat16
    values (the GRU's and RNN's W_ih too: the input projections of all steps are one float32
    GEMM, exact products of bfloat16 values). In a training step all are float32 (the casts
    differentiable), and fused_ops rounds the product's matrices for it."""
    if training:
        return precision.widened(spec, BF16)

    def wide(t: Tensor | None) -> Tensor | None:
        return None if t is None else t.to(BF16).float()

    def operands(w: DirectionWeights) -> DirectionWeights:
        w_ih = w.weight_ih.to(BF16) if spec.mode == "LSTM" else wide(w.weight_ih)
        biases, params = (wide(w.bias_ih), wide(w.bias_hh)), StepParams(*map(wide, w.params))
        return DirectionWeights(w_ih, w.weight_hh.to(BF16), *biases, params)

    return dataclasses.replace(spec, weights=tuple(operands(w) for w in spec.weights))


def _run_layer(
    spec: LayerSpec, index: int, x: Tensor, time: TimeSteps, hx: State, record: bool
) -> tuple[Tensor, State, list]:
    """One layer, every direction in one kernel call: the float32 fused engine's layer
    (its masks; its threads split the rows: the kernel has no unit split), the step
    products on this kernel."""
    cfg = _kernel_config(fused.layer_config(spec, *x.shape[:2]), x)
    return fused.run_layer(cfg, spec, index, x, time, hx, record)


def _run_segment(
    spec: LayerSpec,
    w: DirectionWeights,
    h_mask: Tensor | None,
    x: Tensor,
    valid: Tensor | None,
    state: State,
) -> tuple[Tensor, State]:
    """One segment of bounded-memory training (engines/recompute.py), on the kernel."""
    return fused.run_segment(spec, w, h_mask, x, valid, state, _kernel_config)


def _kernel_config(cfg: ops.Config, x: Tensor) -> ops.Config:
    """The float32 layer's configuration with this kernel's entries and its threads, which
    split the rows only (the kernel has no unit split)."""
    threads, kernels = min(cfg.threads, x.shape[1]), _kernels[cfg.family, _suffix()]
    return dataclasses.replace(cfg, units=False, threads=threads, bf16=kernels)


BF16_KERNEL = Bf16Kernel()
