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
- CPU, plain LSTM: torch's oneDNN kernel is as fast as the fused one per thread (both run
  their GEMMs at the core's FMA peak), so native stays unless the fused engine has a
  structural advantage, measured as:
    * 2+ threads and hidden_size < 512: oneDNN synchronises its threads at every step, the
      fused engine splits batch rows (or, below two rows per thread, hidden units) with no
      per-step barrier. Quiet machine, 2 threads, medians of `lstmkit bench speed --rows
      plain` (torch time / fused time, inference / train): (1,100,32,128) 1.37/1.41,
      (32,100,32,128) 0.96/1.01, (16,500,16,64) 2.44/1.52, (64,200,64,256) 1.22/1.11,
      L2 bidirectional (32,100,64,256) 1.07/1.06; at (128,50,128,512) 0.97/0.98: native;
    * one thread, a training step with hidden_size >= 256 and batch <= 64: torch's backward runs
      below GEMM peak (1.27-1.5x faster fused on one thread, 2.4x on two, at
      (64,200,64,256)); at (128,50,128,512) oneDNN keeps up (fused 0.94x): native;
    * proj_size > 0, float64 or variable lengths (packed), where torch leaves oneDNN for a
      generic kernel (B=32, T=100, H=64, one thread, train step with lengths: native 44 ms,
      fused 8.5 ms; without lengths: native 12 ms).
"""

from __future__ import annotations

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
ENGINE_NAMES = ("auto", *ENGINES)
LARGE_HIDDEN = 256  # plain LSTM training from this hidden size on goes to the fused engine
LARGE_BATCH = 64  # ... up to this batch size
NATIVE_HIDDEN = 512  # from this hidden size on, 2+ threads: oneDNN keeps up (0.97-0.98x)
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
        usable = [e for e in AUTO_ORDER if e.unsupported(layer, x, record) is None]
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
    threads = torch.get_num_threads()
    if threads >= 2:  # no per-step barrier across threads: fused unless the GEMMs dominate
        return layer.hidden_size >= NATIVE_HIDDEN and batch >= 2 * threads
    training_step = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in layer.parameters())
    )
    large = layer.hidden_size >= LARGE_HIDDEN and x.shape[1] <= LARGE_BATCH
    return not (training_step and large)
