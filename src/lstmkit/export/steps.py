"""The equations of `lstmkit.cells` as ONNX nodes: one step, the body of a Scan over time.

Each function mirrors its step in `lstmkit.cells` line by line (same gate order, same
placement of GRU's b_hn, same `1 - i` under CIFG), so a reviewer reads them side by side.
The body receives xw_t = W_ih x_t + b_ih, computed for all steps before the Scan as one
MatMul (as the autograd engine does), and the previous states; it returns the new states.
Inference-time noise is what `lstmkit` does in eval mode: zoneout mixes in its expectation,
recurrent dropout and weight drop are the identity.
"""

from __future__ import annotations

from lstmkit.engines.spec import DirectionWeights, LayerSpec
from lstmkit.export.graph import Graph


def recurrent_projection(body: Graph, outer: Graph, w: DirectionWeights, h: str) -> str:
    """hw = W_hh h_{t-1} + b_hh (B, G*H), the weights stored once in the outer graph."""
    weight = outer.const(w.weight_hh.T, "w_hh_t")  # (P, G*H)
    hw = body.op("MatMul", [h, weight])
    if w.bias_hh is not None:
        hw = body.op("Add", [hw, outer.const(w.bias_hh, "b_hh")])
    return hw


def _split(body: Graph, outer: Graph, a: str, parts: int, size: int) -> list[str]:
    return body.op("Split", [a, outer.ints([size] * parts)], outputs=parts, axis=-1)


def _group_norm(body: Graph, outer: Graph, a: str, groups: int, size: int, weight, bias) -> str:
    """Layer norm over each gate group's pre-activation, then the (G*H,) gain and bias."""
    grouped = body.op("Reshape", [a, outer.ints([0, groups, size])])  # (B, G, H)
    ones, nil = outer.const([1.0] * size, "ones"), outer.const([0.0] * size, "nil")
    normed = body.op("LayerNormalization", [grouped, ones, nil], axis=-1, epsilon=EPS)
    flat = body.op("Reshape", [normed, outer.ints([0, groups * size])])
    return body.op(
        "Add", [body.op("Mul", [flat, outer.const(weight, "ln_g_w")]), outer.const(bias, "ln_g_b")]
    )


EPS = 1e-5  # lstmkit.cells.LAYER_NORM_EPS


def lstm_step(
    body: Graph, outer: Graph, spec: LayerSpec, w: DirectionWeights, xw: str, state: list[str]
) -> list[str]:
    """lstmkit.cells.lstm_step: (h, c) from xw_t and (h_{t-1}, c_{t-1})."""
    h, c = state
    variant, p, size = spec.variant, w.params, spec.hidden_size
    a = body.op("Add", [xw, recurrent_projection(body, outer, w, h)])  # (B, G*H)
    if variant.layer_norm:
        a = _group_norm(body, outer, a, variant.num_gates, size, p.ln_gates_weight, p.ln_gates_bias)
    if variant.cifg:
        a_i, a_g, a_o = _split(body, outer, a, 3, size)
        a_f = None
    else:
        a_i, a_f, a_g, a_o = _split(body, outer, a, 4, size)
    if variant.peephole:
        w_ci, *w_cf, w_co = p.weight_ch.chunk(variant.num_peepholes)
        a_i = body.op("Add", [a_i, body.op("Mul", [outer.const(w_ci, "w_ci"), c])])
        if a_f is not None:
            a_f = body.op("Add", [a_f, body.op("Mul", [outer.const(w_cf[0], "w_cf"), c])])
    i = body.op("Sigmoid", [a_i])
    f = body.op("Sub", [outer.const(1.0, "one"), i]) if a_f is None else body.op("Sigmoid", [a_f])
    g = body.op("Tanh", [a_g])
    c_new = body.op("Add", [body.op("Mul", [f, c]), body.op("Mul", [i, g])])
    if variant.peephole:  # the output gate peeks at the new cell
        a_o = body.op("Add", [a_o, body.op("Mul", [outer.const(w_co, "w_co"), c_new])])
    o = body.op("Sigmoid", [a_o])
    shown = c_new
    if variant.layer_norm:  # only the read-out is normalised; the carried cell stays raw
        ln_w, ln_b = outer.const(p.ln_cell_weight, "ln_c_w"), outer.const(p.ln_cell_bias, "ln_c_b")
        shown = body.op("LayerNormalization", [c_new, ln_w, ln_b], axis=-1, epsilon=EPS)
    h_new = body.op("Mul", [o, body.op("Tanh", [shown])])
    if p.weight_hr is not None:
        h_new = body.op("MatMul", [h_new, outer.const(p.weight_hr.T, "w_hr_t")])  # (B, P)
    return [h_new, c_new]


def gru_step(
    body: Graph, outer: Graph, spec: LayerSpec, w: DirectionWeights, xw: str, state: list[str]
) -> list[str]:
    """lstmkit.cells.gru_step: r, z, n in torch's order, b_hn inside r ⊙ (...)."""
    (h,) = state
    size = spec.hidden_size
    x_r, x_z, x_n = _split(body, outer, xw, 3, size)
    h_r, h_z, h_n = _split(body, outer, recurrent_projection(body, outer, w, h), 3, size)
    r = body.op("Sigmoid", [body.op("Add", [x_r, h_r])])
    z = body.op("Sigmoid", [body.op("Add", [x_z, h_z])])
    n = body.op("Tanh", [body.op("Add", [x_n, body.op("Mul", [r, h_n])])])
    keep = body.op("Mul", [body.op("Sub", [outer.const(1.0, "one"), z]), n])
    return [body.op("Add", [keep, body.op("Mul", [z, h])])]


def rnn_step(
    body: Graph, outer: Graph, spec: LayerSpec, w: DirectionWeights, xw: str, state: list[str]
) -> list[str]:
    """lstmkit.cells.rnn_tanh_step / rnn_relu_step."""
    a = body.op("Add", [xw, recurrent_projection(body, outer, w, state[0])])
    return [body.op("Tanh" if spec.mode == "RNN_TANH" else "Relu", [a])]


STEPS = {"LSTM": lstm_step, "GRU": gru_step, "RNN_TANH": rnn_step, "RNN_RELU": rnn_step}


def zoneout(body: Graph, outer: Graph, new: list[str], old: list[str], rates) -> list[str]:
    """Eval-mode zoneout, z ⊙ old + (1 - z) ⊙ new (lstmkit.cells.zoneout)."""
    mixed = []
    for n, o, z in zip(new, old, rates):
        if not z:
            mixed.append(n)
            continue
        kept = body.op("Mul", [outer.const(float(z), "z"), o])
        mixed.append(body.op("Add", [kept, body.op("Mul", [outer.const(1 - float(z), "z1"), n])]))
    return mixed
