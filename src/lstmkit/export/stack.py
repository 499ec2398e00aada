"""A `LayerSpec` as ONNX nodes: layers in turn, both directions, lengths, as lstmkit runs them.

Per layer and direction the recurrence is either ONNX's own LSTM/GRU/RNN operator (the
plain equations, where it computes exactly what lstmkit does: `native.py`) or a Scan over
time whose body is the step of `steps.py` (every variant). Scan rather than Loop: the time
axis is a scan input, each direction sets its own `scan_input_directions`, and the
per-step outputs are collected by the operator, with no index arithmetic in the body.

Lengths: a (T, B, 1) mask is built once per call (t < lengths[b]); past a sequence's end a
step keeps the previous state and outputs zero, as `engines/autograd.py` does. The
backward direction is the same Scan run in reverse over the padded tensor: for a sequence
of length L it first meets the T - L padded steps, where the mask keeps its initial state,
and then steps L-1, ..., 0, which is lstmkit's per-sequence reversal within each length
(padding in place) without a ReverseSequence round trip; its outputs come back in time
order through `scan_output_directions`.
"""

from __future__ import annotations

import numpy as np

from lstmkit.engines.spec import LayerSpec
from lstmkit.export import native
from lstmkit.export.graph import Graph, dim, valid_mask, zeros
from lstmkit.export.steps import STEPS, zoneout


def recurrent_nodes(
    g: Graph,
    spec: LayerSpec,
    x: str,
    lengths: str | None,
    states: list[str] | None,
    use_native: bool = True,
) -> tuple[str, list[str]]:
    """Add the nodes running `spec` over time-major (T, B, I) `x` to `g`.

    Args:
        g: the graph; spec: the layer in eval mode; x: (T, B, I) float32 value name.
        lengths: (B,) int64 value name, or None when every sequence has T steps.
        states: initial states, each (L*D, B, size), or None for zeros.
        use_native: map the plain equations to ONNX's LSTM/GRU/RNN operators where exact.
    Returns:
        The output (T, B, D*P) and the final states, each (L*D, B, size).
    """
    if spec.training:
        raise ValueError("export runs the model in eval mode; call .eval() first")
    mask = None if lengths is None else valid_mask(g, lengths, dim(g, x, 0))
    finals: list[list[str]] = [[] for _ in spec.state_names]
    for layer in range(spec.num_layers):
        if use_native and native.exact(spec):
            x, layer_finals = native.layer_nodes(
                g, spec, layer, x, lengths, _layer_states(g, spec, layer, states)
            )
        else:
            x, layer_finals = _scan_layer(g, spec, layer, x, mask, states)
        for final, value in zip(finals, layer_finals):
            final.append(value)
    return x, [parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0) for parts in finals]


def _layer_states(
    g: Graph, spec: LayerSpec, layer: int, states: list[str] | None
) -> list[str] | None:
    """One layer's initial states, each (D, B, size), sliced from (L*D, B, size)."""
    if states is None:
        return None
    d = spec.num_directions
    start, end = g.ints([layer * d]), g.ints([(layer + 1) * d])
    return [g.op("Slice", [s, start, end, g.ints([0])]) for s in states]


def _scan_layer(
    g: Graph, spec: LayerSpec, layer: int, x: str, mask: str | None, states: list[str] | None
) -> tuple[str, list[str]]:
    """One layer, every direction, each a Scan; finals come back (D, B, size) per state."""
    outputs, finals = [], [[] for _ in spec.state_names]
    for direction in range(spec.num_directions):
        index = layer * spec.num_directions + direction
        if states is None:
            batch = dim(g, x, 1)
            init = [zeros(g, batch, size) for size in spec.state_sizes]
        else:
            init = [g.op("Gather", [s, _index(g, index)], axis=0) for s in states]
        out, state = _scan_direction(g, spec, index, direction, x, mask, init)
        outputs.append(out)
        for final, value in zip(finals, state):
            final.append(g.op("Unsqueeze", [value, g.ints([0])]))
    out = outputs[0] if len(outputs) == 1 else g.op("Concat", outputs, axis=-1)
    return out, [f[0] if len(f) == 1 else g.op("Concat", f, axis=0) for f in finals]


def _index(g: Graph, index: int) -> str:
    return g.const(np.asarray(index, dtype=np.int64), "k")


def _scan_direction(
    g: Graph,
    spec: LayerSpec,
    index: int,
    direction: int,
    x: str,
    mask: str | None,
    init: list[str],
) -> tuple[str, list[str]]:
    """One direction of one layer: xw for all steps, then a Scan of the step over time."""
    w = spec.weights[index]
    xw = g.op("MatMul", [x, g.const(w.weight_ih.T, "w_ih_t")])  # (T, B, G*H)
    if w.bias_ih is not None:
        xw = g.op("Add", [xw, g.const(w.bias_ih, "b_ih")])
    body = Graph(f"{g.prefix}s{index}_")
    old = [body.name(f"{n}_prev") for n in spec.state_names]
    xw_t, m_t = body.name("xw_t"), body.name("m_t")
    new = STEPS[spec.mode](body, g, spec, w, xw_t, old)
    if any(spec.noise.zoneout):
        new = zoneout(body, g, new, old, spec.noise.zoneout)
    scanned = [xw]
    inputs = [(n, 2) for n in old] + [(xw_t, 2)]
    if mask is None:
        y = body.op("Identity", [new[0]])
    else:  # past a sequence's end: the state stays, the output is zero
        new = [body.op("Where", [m_t, n, o]) for n, o in zip(new, old)]
        y = body.op("Where", [m_t, new[0], g.const(0.0, "nil")])
        scanned.append(mask)
        inputs.append((m_t, 2))
    new = [body.op("Identity", [n]) for n in new]  # a body output must be its own value
    graph = body.subgraph(body.prefix + "body", inputs, [*new, y])
    if mask is not None:  # Scan bodies take typed inputs: the mask is bool
        graph.input[-1].type.tensor_type.elem_type = 9
    outs = g.op(
        "Scan",
        [*init, *scanned],
        outputs=len(new) + 1,
        body=graph,
        num_scan_inputs=len(scanned),
        scan_input_directions=[direction] * len(scanned),
        scan_output_directions=[direction],
    )
    return outs[-1], outs[:-1]
