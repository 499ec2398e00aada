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
      splits batch rows (or, below two rows per thread, hidden units) with no per-step
      barrier, and its weight gradients are one GEMM at ~95% of peak. 2 threads:
      (1,100,32,128) 1.29/1.33, (32,100,32,128) 0.98/1.10, (16,500,16,64) 2.82/1.77,
      (64,200,64,256) 1.27/1.64, (128,50,128,512) 1.08/1.26, L2 bidirectional
      (32,100,64,256) 1.06/1.33;
    * one thread, a training step: fused, 1.00-1.28x (the same six: 1.00, 1.01, 1.04,
      1.28, 1.18, 1.16); inference stays native (0.89-1.05x);
    * proj_size > 0, float64 or variable lengths (packed), where torch leaves oneDNN for a
      generic kernel (B=32, T=100, H=64, one thread, train step with lengths: native 44 ms,
      fused 8.5 ms; without lengths: native 12 ms).

All of the above holds on CPUs with AVX-512. On a 2-core AVX2-only EPYC (no avx512f in
/proc/cpuinfo, torch's capability "AVX2") the same kernels ran 4-16x slower than torch
(`lstmkit bench speed --rows plain layer_norm gru --budget 1 --stat min`, torch/fused
inference / train: (1,100,32,128) 0.25/0.24, (32,100,32,128) 0.08/0.10, (64,200,64,256)
0.06/0.11) and slower than the autograd loop at batch >= 32, so there "auto" runs native,
then autograd, and the fused engine only where nothing else can run (`fused_is_fast`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lstmkit.engines import Engine
from lstmkit.engines.autograd import AUTOGRAD
from lstmkit.engines.fused import FUSED
from lstmkit.engines.native import NATIVE

if TYPE_CHECKING:
    from lstmkit.layers import RecurrentLayer

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (NATIVE, FUSED, AUTOGRAD)}
AUTO_ORDER: tuple[Engine, ...] = (FUSED, NATIVE, AUTOGRAD)
SLOW_FUSED_ORDER: tuple[Engine, ...] = (NATIVE, AUTOGRAD, FUSED)
ENGINE_NAMES = ("auto", *ENGINES)
SMALL_WORK = 1 << 20  # recurrent multiply-adds below which the plain equations stay native


def check_engine_name(name: str) -> str:
    if name not in ENGINE_NAMES:
        raise ValueError(f"engine must be one of {ENGINE_NAMES}, got {name!r}")
    return name


def engine_for(
    layer: RecurrentLayer, x: Tensor, record: bool, lengths: Tensor | None = None
) -> Engine:
    """The engine that will run `layer` on `x` (with gate recording when `record`)."""
    if layer.engine == "auto":
        order = AUTO_ORDER if x.device.type != "cpu" or fused_is_fast() else SLOW_FUSED_ORDER
        usable = [e for e in order if e.unsupported(layer, x, record) is None]
        if NATIVE in usable and FUSED in usable and native_is_faster(layer, x, lengths):
            return NATIVE
        return usable[0]
    engine = ENGINES[layer.engine]
    reason = engine.unsupported(layer, x, record)
    if reason is not None:
        raise ValueError(
            f'engine="{layer.engine}" cannot run this configuration: {reason}; '
            'use engine="auto" to fall back to an engine that can'
        )
    return engine


@functools.cache
def fused_is_fast() -> bool:
    """Whether this CPU runs the fused kernels at the speeds measured (it has AVX-512).

    Read at run time from torch's own CPU dispatch level; see the module docstring for the
    AVX2 figures.
    """
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def native_is_faster(layer: RecurrentLayer, x: Tensor, lengths: Tensor | None = None) -> bool:
    """For a configuration both can run (the plain equations): whether torch's kernel wins.

    The rule and its measurements are in the module docstring.
    """
    if x.device.type != "cpu":
        return True
    steps, batch, _ = x.shape
    h_size = layer.proj_size or layer.hidden_size
    work = steps * batch * layer.num_layers * layer.num_gates * layer.hidden_size * h_size
    if work < SMALL_WORK:
        return True
    if layer.mode != "LSTM" or layer.proj_size or x.dtype == torch.float64:
        return False
    if lengths is not None:  # torch's packed-sequence path leaves oneDNN
        return False
    if torch.get_num_threads() >= 2:  # no per-step barrier across threads
        return False
    training_step = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in layer.parameters())
    )
    return not training_step
