"""The plain equations as ONNX's LSTM, GRU and RNN operators, where they are exact.

ONNX orders the gates differently from torch: LSTM (i, o, f, c) for torch's (i, f, g, o),
GRU (z, r, h) for torch's (r, z, n), and torch's GRU applies b_hn inside r ⊙ (W_hn h + b_hn),
which is ONNX's `linear_before_reset=1`. With `sequence_lens`, onnxruntime zeroes the
outputs past each length, returns the last valid state in Y_h/Y_c and runs the reverse
direction over each sequence's own steps, as lstmkit does (tests/test_export_layers.py
checks every case against lstmkit).
"""

from __future__ import annotations

import torch
from onnx import TensorProto

from lstmkit.cells import LSTMVariant
from lstmkit.engines.spec import LayerSpec
from lstmkit.export.graph import Graph

OPS = {"LSTM": "LSTM", "GRU": "GRU", "RNN_TANH": "RNN", "RNN_RELU": "RNN"}
# torch's gate chunks in the order ONNX reads them
GATE_ORDER = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def exact(spec: LayerSpec) -> bool:
    """Whether ONNX's operator computes this layer's equations: no variant, projection or
    (eval-mode) zoneout."""
    if any(spec.noise.zoneout):
        return False
    if spec.mode == "LSTM":
        return spec.variant == LSTMVariant() and not spec.proj_size
    return True


def _gates(t: torch.Tensor, mode: str) -> torch.Tensor:
    order = GATE_ORDER[mode]
    chunks = t.chunk(len(order), 0)
    return torch.cat([chunks[k] for k in order])


def layer_nodes(
    g: Graph, spec: LayerSpec, layer: int, x: str, lengths: str | None, states: list[str] | None
) -> tuple[str, list[str]]:
    """One layer as one operator node: output (T, B, D*H), finals each (D, B, H)."""
    d, mode = spec.num_directions, spec.mode
    ws = [spec.direction(layer, k) for k in range(d)]
    w = g.const(torch.stack([_gates(v.weight_ih, mode) for v in ws]), "W")  # (D, G*H, I)
    r = g.const(torch.stack([_gates(v.weight_hh, mode) for v in ws]), "R")  # (D, G*H, H)
    b = ""
    if spec.bias:
        both = [torch.cat([_gates(v.bias_ih, mode), _gates(v.bias_hh, mode)]) for v in ws]
        b = g.const(torch.stack(both), "B")  # (D, 2*G*H)
    lens = "" if lengths is None else g.op("Cast", [lengths], to=TensorProto.INT32)
    inputs = [x, w, r, b, lens, *(states or [])]
    attrs = {"hidden_size": spec.hidden_size, "direction": "bidirectional" if d == 2 else "forward"}
    if mode == "GRU":
        attrs["linear_before_reset"] = 1
    if mode.startswith("RNN"):
        attrs["activations"] = ["Tanh" if mode == "RNN_TANH" else "Relu"] * d
    outs = g.op(OPS[mode], inputs, outputs=1 + len(spec.state_names), **attrs)
    y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
    return g.op("Reshape", [y, g.ints([0, 0, -1])]), outs[1:]
