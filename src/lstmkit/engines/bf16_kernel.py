"""The bfloat16 fused LSTM: products of bfloat16 on AVX-512 BF16 (vdpbf16ps), float32 gates.

What is bfloat16 and what is float32 in a call it runs (engines/precision.py has the whole
picture, this engine is its "bfloat16 kernel" case):

- bfloat16, the operands of the step product: the weights W_ih and W_hh (as stored, or
  rounded once per call under autocast), every layer's input x_t (the caller's, rounded
  under autocast; for layers 2+ the previous layer's float32 output rounded), and
  h_{t-1}, rounded to bfloat16 for the product only;
- float32: the accumulation of [x_t, h_{t-1}] [W_ih, U]^T (vdpbf16ps adds pairs of
  bfloat16 products into float32 lanes), the bias b_ih + b_hh (summed in float32), the
  pre-activations, the gates, c_t and h_t as carried from step to step, the initial
  states (h_0, c_0 rounded to bfloat16 first, as the float32-compute path rounds them);
- bfloat16 again: the output and the final states, rounded once at the end (under
  `precision.layers_in`, handed back as float32 holding the rounded values).

It runs the plain LSTM's forward without gradients (inference: `torch.no_grad()`, or
parameters and input that require none), one or more layers, either direction, lengths
or padded batches; everything else (training steps, the variants, projection, noise,
GRU and RNN, float16) keeps `precision.Float32Compute`. `select` takes it only where the
CPU has AVX-512 BF16 and the library compiled (`built`), so other CPUs never load it.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from lstmkit.cells import State
from lstmkit.engines import EngineOutput, LayerSpec, fused_build, precision
from lstmkit.engines.fused import MIN_WORK_PER_THREAD
from lstmkit.engines.stack import TimeSteps, run_stack

FAMILY, SUFFIX = "lstm_bf16", "bf16"
BF16 = torch.bfloat16
_forward: list[ctypes._CFuncPtr] = []
_failure: list[str] = []


def built() -> str | None:
    """None when the bfloat16 library is compiled, loaded and passed its self-test here,
    else why not (kept per process). Call only where the CPU has AVX-512 BF16."""
    if _forward:
        return None
    if _failure:
        return _failure[0]
    if "avx512_bf16" not in fused_build._cpu_flags().split():  # the real flags, not a test's
        _failure.append("this CPU's /proc/cpuinfo has no avx512_bf16 (the kernel is not loaded)")
        return _failure[0]
    try:
        lib = fused_build.library(FAMILY, SUFFIX)
    except fused_build.KernelUnavailable as err:
        _failure.append(f"the bfloat16 kernel did not compile ({str(err).splitlines()[0]})")
        return _failure[0]
    test = lib.lk_bf16_selftest
    test.argtypes, test.restype = [], ctypes.c_int64
    if test() != 1:
        _failure.append("the bfloat16 kernel's self-test of vdpbf16ps failed")
        return _failure[0]
    fn = lib.lk_lstm_bf16_forward
    fn.argtypes = [ctypes.POINTER(fused_build.RecArgs), ctypes.c_int64, ctypes.c_int64]
    fn.restype = None
    _forward.append(fn)
    return None


def unsupported(spec: LayerSpec, x: Tensor, record: bool, dtype: torch.dtype) -> str | None:
    """Why this engine cannot run the call (the CPU check is `select`'s), or None."""
    variant = spec.variant
    if dtype != BF16:
        return f"the kernel reads bfloat16, not {dtype}"
    if spec.mode != "LSTM" or spec.proj_size or (variant and variant != type(variant)()):
        return "it runs the plain LSTM only (no variant, projection, GRU or RNN)"
    if spec.noise.active(spec.training) or (spec.training and spec.dropout):
        return "it runs no training noise (recurrent dropout, zoneout, weight drop, dropout)"
    if record or x.device.type != "cpu" or x.shape[1] == 0:
        return "it runs CPU batches without gate recording"
    if torch.is_grad_enabled() and (x.requires_grad or spec.weights_require_grad()):
        return "training steps keep the float32-compute path (no bfloat16 backward yet)"
    return None


class Bf16Kernel:
    """The plain LSTM's inference on the bfloat16 kernel (module docstring)."""

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
            hx = tuple(s.to(BF16).float() for s in hx)
            result = run_stack(spec, x, lengths, hx, False, _run_layer)

        def rounded(t: Tensor) -> Tensor:
            return t.to(BF16).to(back)

        return EngineOutput(rounded(result.output), tuple(rounded(s) for s in result.states), None)


def _run_layer(
    spec: LayerSpec, index: int, x: Tensor, time: TimeSteps, hx: State, record: bool
) -> tuple[Tensor, State, list]:
    """One layer, every direction in one kernel call (as the float32 fused engine)."""
    steps, batch, size = x.shape
    D, H = spec.num_directions, spec.hidden_size
    x16 = x.to(BF16).contiguous()
    out = torch.empty(steps, batch, D * H)
    finals = tuple(torch.empty(D, batch, H) for _ in hx)
    h0, c0 = (s.contiguous() for s in hx)
    lengths = None if time.lengths is None else time.lengths.contiguous()
    threads, concurrent = _threads(spec, steps, batch)
    keep, args = [x16, out, *finals, h0, c0, lengths], []
    for d in range(D):
        w = spec.direction(index, d)
        wih, U = w.weight_ih.to(BF16).contiguous(), w.weight_hh.to(BF16).contiguous()
        bias = None
        if w.bias_ih is not None:
            bias = (w.bias_ih.to(BF16).float() + w.bias_hh.to(BF16).float()).contiguous()
        keep += [wih, U, bias]
        ptrs = dict(
            x=x16.data_ptr(), wih=wih.data_ptr(), U=U.data_ptr(),
            bias=None if bias is None else bias.data_ptr(),
            h0=h0[d].data_ptr(), c0=c0[d].data_ptr(), out=out.data_ptr() + 4 * d * H,
            hT=finals[0][d].data_ptr(), cT=finals[1][d].data_ptr(),
            lengths=None if lengths is None else lengths.data_ptr(),
        )  # fmt: skip
        sizes = dict(cell=0, T=steps, B=batch, H=H, P=H, G=4, I=size, reverse=d)
        rows = dict(nthreads=threads, xw_rs=D * 4 * H, out_rs=D * H)
        args.append(fused_build.RecArgs(**sizes, **rows, **ptrs))
    array = (fused_build.RecArgs * D)(*args)
    _forward[0](array, D, int(concurrent))
    del keep  # the tensors above lived over the call
    return out, finals, []


def _threads(spec: LayerSpec, steps: int, batch: int) -> tuple[int, bool]:
    """Threads per direction and whether the directions run at once: the float32 engine's
    rule (engines/fused.py), rows only (the kernel has no unit split)."""
    work = steps * batch * 4 * spec.hidden_size * spec.hidden_size
    threads = max(1, min(torch.get_num_threads(), work // MIN_WORK_PER_THREAD))
    concurrent = spec.num_directions == 2 and threads >= 2
    per_direction = threads // 2 if concurrent else threads
    return min(per_direction, batch), concurrent


BF16_KERNEL = Bf16Kernel()
