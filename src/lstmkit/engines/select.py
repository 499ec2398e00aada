"""The one place that decides which engine runs a layer.

`"auto"` runs the fastest engine that supports the configuration and falls back quietly;
naming an engine that cannot run the configuration raises, saying why.

The "auto" rule, from measurements on the development machine (2-core AMD EPYC, AVX-512,
float32; benchmarks/README.md has the tables and `lstmkit bench speed` reruns them):

- CUDA: cuDNN (native) for the plain equations, the autograd engine for the variants (the
  fused kernels are CPU code).
- CPU, any variant (peephole, CIFG, layer norm, active recurrent dropout, zoneout or weight
  drop): fused, 5-130x faster than the step-by-step loop; autograd if the kernels cannot be
  built (no C compiler) or the dtype is not float32/float64.
- CPU, plain GRU and RNN: fused. torch's CPU GRU has no oneDNN path; the fused GRU measured
  2.3-15x faster than torch.nn.GRU at every benchmark size, inference and training.
- CPU, plain equations, tiny problems (under 2^20 multiply-adds in the recurrent GEMMs):
  native, whose Python path is ~15 us shorter; there is nothing for the kernels to win.
- CPU, plain LSTM: both engines run their GEMMs near the core's FMA peak, so the rule
  follows where the fused engine is structurally ahead (`lstmkit bench speed --rows plain
  --stat min`, quiet machine, torch time / fused time, inference / train):
    * 2+ threads: fused. oneDNN synchronises its threads at every step; the fused engine
      splits batch rows with no per-step barrier (or the hidden units, with one: below two
      rows per thread, and where each thread's rows are too few for the weights it would
      stream, engines/fused.py UNITS_BYTES), and its weight gradients are one GEMM at
      ~95% of peak. 2 threads:
      (1,100,32,128) 1.29/1.33, (32,100,32,128) 0.98/1.10, (16,500,16,64) 2.82/1.77,
      (64,200,64,256) 1.27/1.64, (128,50,128,512) 1.08/1.26, L2 bidirectional
      (32,100,64,256) 1.06/1.33;
    * one thread, a training step: fused, 1.00-1.28x (the same six: 1.00, 1.01, 1.04,
      1.28, 1.18, 1.16); inference stays native (0.89-1.05x);
    * proj_size > 0, float64 or variable lengths (packed), where torch leaves oneDNN for a
      generic kernel (B=32, T=100, H=64, one thread, train step with lengths: native 44 ms,
      fused 8.5 ms; without lengths: native 12 ms).

All of the above was measured on CPUs with AVX-512. On a 2-core AVX2-only EPYC (no avx512f
in /proc/cpuinfo, torch's capability "AVX2") the kernels first ran 4-16x slower than torch
(`lstmkit bench speed --rows plain layer_norm gru --budget 1 --stat min`, torch/fused
inference / train: (1,100,32,128) 0.25/0.24, (32,100,32,128) 0.08/0.10, (64,200,64,256)
0.06/0.11), because their tiles assumed 512-bit registers; built for the target's own
register width (a tile that fits its register file, `-fno-trapping-math` so the gate math
vectorises) they are faster than torch there too (scaling run on that host, 2026-12-02
03:40 UTC, 2 threads, load 5-6, training torch/lstmkit: 1.20-1.87x over B = 1..256 at
T=100, H=128; 1.14-1.44x for H = 32..512, 0.90x at H=1024, where every row-split thread
streamed the whole weight matrix per step: the unit split of engines/fused.py UNITS_BYTES
now takes that case). `fused_is_fast` reads the built library's
vector width and FMA, so a build without them falls back to native, then autograd.

bfloat16 and float16 (a layer `.to(torch.bfloat16)`, or a float32 layer under
`torch.autocast("cpu", dtype=torch.bfloat16)`): the engine the float32 layer would get,
inside `precision.Float32Compute` (bfloat16 storage, float32 arithmetic; which tensors are
which: engines/precision.py), unless "native" is asked for, which runs torch's own kernels
(on an AVX2 CPU torch.nn.LSTM under bfloat16 autocast raises: oneDNN creates no bfloat16
LSTM primitive there). The LSTM in bfloat16 (every variant), the GRU and the RNN (inference
and training, bounded-memory training too, with "auto" or "fused", not while exporting) run
the bfloat16 kernel (engines/bf16_kernel.py: vdpbf16ps products, float32 accumulation, gates
and states; the backward's recurrent product alike, the rest of it float32) where
`cpu_has_avx512_bf16()` (the avx512_bf16 CPUID flag in /proc/cpuinfo;
LSTMKIT_NO_AVX512_BF16=1 simulates its absence; LSTMKIT_BF16_EMULATE=1 runs the kernel's
code emulated on any CPU, for tests) and its libraries compiled (`bf16_kernel_built()`);
float16 keeps the float32-compute path. Queue run on a Zen 5 EPYC, 14:50 UTC, 2 threads, the
issue's three shapes (benchmarks/README.md, "bfloat16"): kernel inference 1.42-1.78x lstmkit
float32 and 0.84-0.91x torch's bfloat16 autocast; training 1.07-1.09x float32 (the plain
LSTM, its backward then float32; the variants, the GRU, the RNN and the backward's recurrent
product, on the kernel since 2026-12-04, were not timed on such a CPU: they run the same
step product, so the rule takes them on that measurement). `low_precision_plan()` is the one
place that says which path runs and why (logged once per dtype at INFO).

Export: while a tracer records the call (ONNX export, `torch.jit.trace`, `torch.compile`
and `torch.export`: `exporting()`), "auto" runs the autograd engine, plain torch ops that
every tracer records, with the steps unrolled at the traced length. The fused engine's C
calls cannot be recorded, so asking for it then raises; "native" (torch's own RNN ops,
which the ONNX exporter maps to its LSTM/GRU/RNN operators) may still be asked for.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import torch
from torch import Tensor

from lstmkit.engines import Engine, LayerSpec, bf16_kernel, fused_build, precision
from lstmkit.engines.autograd import AUTOGRAD
from lstmkit.engines.fused import FUSED
from lstmkit.engines.native import NATIVE

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (NATIVE, FUSED, AUTOGRAD)}
AUTO_ORDER: tuple[Engine, ...] = (FUSED, NATIVE, AUTOGRAD)
SLOW_FUSED_ORDER: tuple[Engine, ...] = (NATIVE, AUTOGRAD, FUSED)
ENGINE_NAMES = ("auto", *ENGINES)
SMALL_WORK = 1 << 20  # recurrent multiply-adds below which the plain equations stay native
_LOG = logging.getLogger(__name__)


def check_engine_name(name: str) -> str:
    if name not in ENGINE_NAMES:
        raise ValueError(f"engine must be one of {ENGINE_NAMES}, got {name!r}")
    return name


def engine_for(spec: LayerSpec, x: Tensor, record: bool, lengths: Tensor | None = None) -> Engine:
    """The engine that will run the layer `spec` on `x` (with gate recording when `record`).

    Args:
        spec: the layer (`RecurrentLayer.spec()`), whose `engine` says what was asked for.
        x: the (T, B, I) batch; record: whether the gates are recorded; lengths: (B,) or None.
    Returns:
        The engine: for "auto" the fastest that can run the call (the rule above), else the
        one named, which raises ValueError saying why when it cannot.
    """
    export = exporting()
    dtype = precision.storage_dtype(x)
    if dtype is not None and spec.engine != "native" and x.device.type == "cpu":
        return _low_precision(spec, x, record, lengths, dtype)
    if spec.engine == "auto":
        if export:  # plain torch ops, which every tracer records
            return AUTOGRAD
        order = AUTO_ORDER if x.device.type != "cpu" or fused_is_fast() else SLOW_FUSED_ORDER
        usable = [e for e in order if e.unsupported(spec, x, record) is None]
        if NATIVE in usable and FUSED in usable and native_is_faster(spec, x, lengths):
            return NATIVE
        return usable[0]
    engine = ENGINES[spec.engine]
    reason = engine.unsupported(spec, x, record)
    if reason is None and export and engine is FUSED:
        reason = "a tracer (ONNX export, torch.jit.trace, torch.compile) cannot record its C calls"
    if reason is not None:
        raise ValueError(
            f'engine="{spec.engine}" cannot run this configuration: {reason}; '
            'use engine="auto" to fall back to an engine that can'
        )
    return engine


def exporting() -> bool:
    """Whether a tracer is recording the call: torch.jit.trace, torch.compile, torch.export.

    Both ONNX exporters trace the forward this way (the TorchScript one under torch.jit's
    tracer, the dynamo one under torch.export), so an ONNX export is covered without
    `torch.onnx.is_in_onnx_export()`, which costs 6.9 us a call here against 0.9 us for
    these two (it imports two modules on every call).
    """
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def fused_is_fast() -> bool:
    """Whether the fused kernels built here run at the speeds measured: 256-bit or wider
    vectors with FMA (the AVX2 and AVX-512 builds; see the module docstring).

    Read from the library actually compiled (`fused_build.kernel_target`), so a build that
    fell back to baseline flags, or a CPU without FMA, counts as slow; no library, no.
    """
    try:
        bits, fma = fused_build.kernel_target()
    except fused_build.KernelUnavailable:
        return False
    return bits >= 256 and fma


def native_is_faster(spec: LayerSpec, x: Tensor, lengths: Tensor | None = None) -> bool:
    """For a configuration both can run (the plain equations): whether torch's kernel wins.

    The rule and its measurements are in the module docstring.
    """
    if x.device.type != "cpu":
        return True
    steps, batch, _ = x.shape
    work = steps * batch * spec.num_layers * spec.num_gates * spec.hidden_size * spec.out_size
    if work < SMALL_WORK:
        return True
    if spec.mode != "LSTM" or spec.proj_size or x.dtype == torch.float64:
        return False
    if lengths is not None:  # torch's packed-sequence path leaves oneDNN
        return False
    if torch.get_num_threads() >= 2:  # no per-step barrier across threads
        return False
    training_step = torch.is_grad_enabled() and (x.requires_grad or spec.weights_require_grad())
    return not training_step


def _low_precision(
    spec: LayerSpec, x: Tensor, record: bool, lengths: Tensor | None, dtype: torch.dtype
) -> Engine:
    """A bfloat16/float16 call: the bfloat16 kernel where it applies (`low_precision_plan`),
    else the engine the float32 layer would get, widening around it."""
    if dtype not in _TOLD:
        _TOLD.add(dtype)
        _LOG.info(low_precision_plan(dtype))
    kernel = bf16_kernel.BF16_KERNEL
    if (
        spec.engine in ("auto", "fused")
        and not exporting()
        and _bf16_kernel_possible()
        and kernel.unsupported(spec, x, record) is None
    ):
        return kernel
    probe = torch.empty(x.shape, dtype=torch.float32).requires_grad_(x.requires_grad)
    with precision.full_width():
        inner = engine_for(precision.widened(spec, dtype), probe, record, lengths)
    return precision.Float32Compute(inner, dtype)


_TOLD: set[torch.dtype] = set()


def low_precision_plan(dtype: torch.dtype = torch.bfloat16) -> str:
    """How a `dtype` layer runs here, and why: the one place that says so."""
    name = str(dtype).removeprefix("torch.")
    wide = f"lstmkit: {name} layers store {name} and compute in float32"
    if not _bf16_kernel_possible():
        reason = (
            "LSTMKIT_NO_AVX512_BF16 is set"
            if os.environ.get("LSTMKIT_NO_AVX512_BF16")
            else "this CPU has no AVX-512 BF16 (no avx512_bf16 flag in /proc/cpuinfo)"
        )
        return f"{wide}: {reason}"
    if dtype != torch.bfloat16:
        return f"{wide}: the AVX-512 BF16 kernel reads bfloat16 only"
    failure = bf16_kernel.built()
    emulated = bf16_kernel.emulated()
    if failure is not None:
        has = "LSTMKIT_BF16_EMULATE is set" if emulated else "the CPU has AVX-512 BF16"
        return f"{wide}: {has}, but {failure}"
    why = (
        "LSTMKIT_BF16_EMULATE is set: vdpbf16ps emulated in float32 arithmetic, for tests"
        if emulated
        else "the CPU has AVX-512 BF16 and the kernel compiled"
    )
    return (
        "lstmkit: bfloat16 LSTM (every variant), GRU and RNN layers run the bfloat16 kernel "
        "(bfloat16 products on vdpbf16ps, float32 accumulation, gates and states) in "
        f"inference and training, bounded-memory training too (the backward float32 but its "
        f"recurrent product; {why}); float16 layers store float16 and compute in float32"
    )


def bf16_kernel_built() -> bool:
    """Whether the bfloat16 kernel runs here: the CPU has AVX-512 BF16 (`cpu_has_avx512_bf16`)
    or LSTMKIT_BF16_EMULATE is set (`bf16_kernel.emulated`), and its library compiled and
    passed its self-test (built on the first call)."""
    return _bf16_kernel_possible() and bf16_kernel.built() is None


def _bf16_kernel_possible() -> bool:
    return cpu_has_avx512_bf16() or bf16_kernel.emulated()


def cpu_has_avx512_bf16() -> bool:
    """Whether the CPU has AVX-512 BF16 (vdpbf16ps), from the CPUID flags Linux reports in
    /proc/cpuinfo (False elsewhere); LSTMKIT_NO_AVX512_BF16=1 simulates a CPU without it."""
    if os.environ.get("LSTMKIT_NO_AVX512_BF16"):
        return False
    return "avx512_bf16" in _cpu_flags()


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()
