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

It runs the plain LSTM (one or more layers, either direction, lengths or padded batches,
inter-layer dropout): inference entirely, and a training step's forward (`TrainLayer`),
which also saves the activations, [x_t, h_{t-1}] as the product used them (widened to
float32) and the cells; the backward is the float32 fused engine's (fused_ops), straight
through the rounding of h: the BPTT and every weight gradient in float32, those of
bfloat16 parameters rounded once by the widening's backward. Everything else (the
variants, projection, recurrent noise, bounded-memory training, GRU and RNN, float16)
keeps `precision.Float32Compute`. `select` takes this engine only where the CPU has
AVX-512 BF16 and the library compiled (`built`), so other CPUs never load it.
"""

from __future__ import annotations

import ctypes
import os

import torch
from torch import Tensor

from lstmkit.cells import State
from lstmkit.engines import EngineOutput, LayerSpec, fused_build, precision
from lstmkit.engines import fused_ops as ops
from lstmkit.engines.fused import MIN_WORK_PER_THREAD
from lstmkit.engines.fused_memory import WORKSPACE
from lstmkit.engines.stack import TimeSteps, run_stack

FAMILY = "lstm_bf16"
BF16 = torch.bfloat16
_forward: dict[str, ctypes._CFuncPtr] = {}  # by library suffix: "bf16", or "bf16emu"
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
    """None when the bfloat16 library (emulated under `emulated()`) is compiled, loaded and
    passed its self-test here, else why not (kept per process). Without emulation, call
    only where the CPU has AVX-512 BF16."""
    suffix = _suffix()
    if suffix not in _forward and suffix not in _failure:
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
    try:
        lib = fused_build.library(FAMILY, suffix)
    except fused_build.KernelUnavailable as err:
        return f"the bfloat16 kernel did not compile ({str(err).splitlines()[0]})"
    test = lib.lk_bf16_selftest
    test.argtypes, test.restype = [], ctypes.c_int64
    if test() != 1:
        return "the bfloat16 kernel's self-test of vdpbf16ps failed"
    fn = lib.lk_lstm_bf16_forward
    fn.argtypes = [ctypes.POINTER(fused_build.RecArgs), ctypes.c_int64, ctypes.c_int64]
    fn.restype = None
    _forward[suffix] = fn
    return None


def unsupported(spec: LayerSpec, x: Tensor, record: bool, dtype: torch.dtype) -> str | None:
    """Why this engine cannot run the call (the CPU check is `select`'s), or None."""
    variant = spec.variant
    if dtype != BF16:
        return f"the kernel reads bfloat16, not {dtype}"
    if spec.mode != "LSTM" or spec.proj_size or (variant and variant != type(variant)()):
        return "it runs the plain LSTM only (no variant, projection, GRU or RNN)"
    if spec.noise.active(spec.training):
        return "it runs no recurrent noise (recurrent dropout, zoneout, weight drop)"
    if record or x.device.type != "cpu" or x.shape[1] == 0:
        return "it runs CPU batches without gate recording"
    if spec.checkpoint_every and _training(spec, x):
        return "bounded-memory training (checkpoint_every) keeps the float32-compute path"
    return None


def _training(spec: LayerSpec, x: Tensor) -> bool:
    return torch.is_grad_enabled() and (x.requires_grad or spec.weights_require_grad())


class Bf16Kernel:
    """The plain LSTM on the bfloat16 kernel (module docstring)."""

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
            if _training(spec, x):  # float32 weights and input whose gradients the casts round
                spec, x = precision.widened(spec, BF16), x.to(BF16).float()
            hx = tuple(s.to(BF16).float() for s in hx)
            result = run_stack(spec, x, lengths, hx, False, _run_layer)

        def rounded(t: Tensor) -> Tensor:
            return t.to(BF16).to(back)

        return EngineOutput(rounded(result.output), tuple(rounded(s) for s in result.states), None)


def _run_layer(
    spec: LayerSpec, index: int, x: Tensor, time: TimeSteps, hx: State, record: bool
) -> tuple[Tensor, State, list]:
    """One layer, every direction in one kernel call (as the float32 fused engine); with a
    gradient wanted, through `TrainLayer` (the float32 fused engine's backward)."""
    D = spec.num_directions
    cfg = _config(spec, *x.shape[:2])
    lengths = None if time.lengths is None else time.lengths.contiguous()
    weights = []
    for d in range(D):
        w = spec.direction(index, d)
        weights.append((w.weight_ih, w.bias_ih, w.weight_hh, w.bias_hh, *w.params))
    flat = [t for direction in weights for t in direction]
    tensors = (x, *hx, *flat)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        masks = ((None, None, None),) * D
        out, *finals = TrainLayer.apply(cfg, lengths, masks, len(hx), *tensors)
    else:
        out, *finals = _kernel_forward(cfg, lengths, x, hx, weights, save=False)[0]
    return out, tuple(finals), []


def _kernel_forward(
    cfg: ops.Config,
    lengths: Tensor | None,
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: list[tuple[Tensor | None, ...]],
    save: bool,
) -> tuple[tuple[Tensor, ...], dict | None]:
    """(out, h_T, c_T), and with `save` the state the float32 backward reads (fused_ops)."""
    steps, batch, size = x.shape
    D, H, GH = cfg.directions, cfg.hidden, 4 * cfg.hidden
    x16 = x.detach().to(BF16).contiguous()
    out = torch.empty(steps, batch, D * H)
    finals = tuple(torch.empty(D, batch, H) for _ in hx)
    h0, c0 = (s.detach().contiguous() for s in hx)
    xw = WORKSPACE.empty(steps, batch, D * GH, dtype=torch.float32) if save else None
    keep, args, directions = [x16, out, *finals, h0, c0, lengths, xw], [], []
    for d, (w_ih, b_ih, w_hh, b_hh, *_) in enumerate(weights):
        wih, U = w_ih.detach().to(BF16).contiguous(), w_hh.detach().to(BF16).contiguous()
        bias = None if b_ih is None else (b_ih.to(BF16).float() + b_hh.to(BF16).float()).detach()
        buffers = {}
        if save:
            buffers = dict(
                hin=WORKSPACE.empty(steps, batch, size + H, dtype=torch.float32),
                cseq=WORKSPACE.empty(steps + 1, batch, H, dtype=torch.float32),
            )
        keep += [wih, U, bias]
        tensors = dict(
            x=x16, wih=wih, U=U, bias=bias, h0=(h0, d * batch * H), c0=(c0, d * batch * H),
            out=(out, d * H), hT=(finals[0], d * batch * H), cT=(finals[1], d * batch * H),
            lengths=lengths, xw=(xw, d * GH), **buffers,
        )  # fmt: skip
        args.append(ops._args(cfg, x, d, save, ops._pointers(tensors)))
        if save:
            static = dict(U=w_hh.detach().float().contiguous(), lengths=lengths)
            fields = dict(zip(ops.FIELDS, weights[d]))
            directions.append(dict(w=fields, static=static, buffers=buffers))
    array = (fused_build.RecArgs * D)(*args)
    _forward[_suffix()](array, D, int(cfg.concurrent))
    del keep  # the tensors above lived over the call
    if not save:
        return (out, *finals), None
    w_all = torch.cat([w[0].detach().float() for w in weights]) if D > 1 else weights[0][0]
    state = dict(xw=xw, w_ih=w_all.detach().float(), directions=directions, lengths=lengths)
    return (out, *finals), state


class TrainLayer(ops.LayerFunction):
    """The training forward on the bfloat16 kernel, saving what the float32 fused engine's
    backward reads (its activations, [x_t, h_{t-1}] as the product used them, the cells),
    then that backward (inherited): the gradients of the widened float32 weights, summed
    over all steps in float32."""

    @staticmethod
    def forward(ctx, cfg, lengths, masks, num_states, x, *rest):
        hx, flat = rest[:num_states], rest[num_states:]
        n = len(ops.FIELDS)
        weights = [flat[k : k + n] for k in range(0, len(flat), n)]
        outputs, state = _kernel_forward(cfg, lengths, x, hx, weights, save=True)
        ctx.cfg, ctx.state = cfg, state
        ctx.save_for_backward(x)
        return outputs


def _config(spec: LayerSpec, steps: int, batch: int) -> ops.Config:
    """Sizes and the threads per direction: the float32 engine's rule (engines/fused.py),
    rows only (the kernel has no unit split)."""
    work = steps * batch * 4 * spec.hidden_size * spec.hidden_size
    threads = max(1, min(torch.get_num_threads(), work // MIN_WORK_PER_THREAD))
    concurrent = spec.num_directions == 2 and threads >= 2
    per_direction = threads // 2 if concurrent else threads
    return ops.Config(
        mode="LSTM", hidden=spec.hidden_size, out=spec.hidden_size, gates=4,
        directions=spec.num_directions, threads=min(per_direction, batch), concurrent=concurrent,
    )  # fmt: skip


BF16_KERNEL = Bf16Kernel()
