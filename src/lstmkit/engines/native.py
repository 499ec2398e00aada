"""The native engine: torch's own fused kernels (oneDNN on the CPU, cuDNN on CUDA).

They compute exactly torch.nn.LSTM/GRU/RNN, so they apply only to the plain equations:
no peephole, CIFG or layer norm, and no recurrent noise active in the current mode.

This engine runs the whole stack in one call rather than through `stack.run_stack`: it is
torch's own stacked kernel, called exactly as torch.nn.LSTM calls it, so it equals torch
bit for bit, inter-layer dropout masks included (cuDNN draws them from its own state), and
cuDNN can pipeline the layers. It is not a speed trick on the CPU: layer by layer measured
the same, (32,100,64,256) L2 bidirectional inference, whole stack / layer by layer 1.01x on
two threads, 0.98x on one (interleaved minima, AVX2 EPYC at load average 5-13).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from lstmkit.engines import EngineOutput, LayerSpec, recompute

_KERNELS = {
    "LSTM": torch.lstm,
    "GRU": torch.gru,
    "RNN_TANH": torch.rnn_tanh,
    "RNN_RELU": torch.rnn_relu,
}


class NativeEngine:
    """torch.lstm / torch.gru / torch.rnn_* on the layer's torch-named weights."""

    name = "native"

    def unsupported(self, spec: LayerSpec, x: Tensor, record: bool) -> str | None:
        if record:
            return "recording gates needs a step-by-step engine"
        variant = spec.variant
        if variant is not None and (variant.peephole or variant.cifg or variant.layer_norm):
            return "torch's kernels compute only the plain equations, not peephole/cifg/layer_norm"
        if spec.noise.active(spec.training):
            return "torch's kernels have no recurrent dropout, zoneout or weight drop"
        if recompute.applies(spec, x, record):
            return "bounded-memory training (checkpoint_every) runs on the fused or autograd engine"
        return None

    def run(
        self,
        spec: LayerSpec,
        x: Tensor,
        lengths: Tensor | None,
        hx: tuple[Tensor, ...],
        record: bool,
    ) -> EngineOutput:
        kernel = _KERNELS[spec.mode]
        options = (
            spec.flat_weights(),
            spec.bias,
            spec.num_layers,
            spec.dropout,
            spec.training,
            spec.num_directions == 2,
        )
        if not spec.proj_size and x.device.type == "cpu":  # neither warning below can come
            return self._run(kernel, options, x, lengths, hx)
        with warnings.catch_warnings():
            # torch notes that oneDNN has no projection (it falls back to its own kernel, the
            # one we want) and, on CUDA, that cuDNN copies weights that are not one flat
            # buffer (lstmkit keeps torch-named parameters): both are noise for our users.
            # Setting the filters costs 15 Python calls, so only where they can apply.
            warnings.filterwarnings("ignore", "LSTM with projections", UserWarning)
            warnings.filterwarnings("ignore", ".*single contiguous chunk of memory", UserWarning)
            return self._run(kernel, options, x, lengths, hx)

    def _run(self, kernel, options, x, lengths, hx) -> EngineOutput:
        if lengths is None:
            output, *states = kernel(x, _hx_arg(hx), *options, False)
            return EngineOutput(output, tuple(states), None)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        hx = tuple(s.index_select(1, order) for s in hx)
        data, *states = kernel(packed.data, packed.batch_sizes, _hx_arg(hx), *options)
        result = PackedSequence(data, packed.batch_sizes, order, unorder)
        output, _ = pad_packed_sequence(result, total_length=x.shape[0])
        return EngineOutput(output, tuple(s.index_select(1, unorder) for s in states), None)


def _hx_arg(hx: tuple[Tensor, ...]) -> Tensor | tuple[Tensor, ...]:
    """torch.lstm takes (h, c); the GRU and RNN kernels take h alone."""
    return hx if len(hx) > 1 else hx[0]


NATIVE = NativeEngine()
