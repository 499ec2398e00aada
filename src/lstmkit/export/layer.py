"""One lstmkit LSTM/GRU/RNN layer as a standalone ONNX model (dynamic batch, time, lengths)."""

from __future__ import annotations

import onnx
import torch
from onnx import TensorProto, helper

from lstmkit.export.graph import Graph
from lstmkit.export.stack import recurrent_nodes
from lstmkit.recurrent import RecurrentLayer

DEFAULT_OPSET = 17  # LayerNormalization's first opset
OPSETS = range(17, 22)  # what the builder's operators and onnxruntime 1.2x agree on


def check_opset(opset: int) -> int:
    """The opset, or ValueError naming the supported range."""
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise ValueError(
            f"opset must be an integer from {OPSETS[0]} to {OPSETS[-1]} (LayerNormalization "
            f"needs 17), got {opset!r}"
        )
    return opset


def layer_model(
    module: RecurrentLayer,
    *,
    lengths: bool = True,
    states: bool = False,
    use_native: bool = True,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """The layer as an ONNX model, its weights as they are now, in eval mode.

    Inputs: `input` in the module's layout ((B, T, I) when batch_first, else (T, B, I)),
    `lengths` (B,) int64 when `lengths`, and `h0` (and `c0` for the LSTM), each
    (L*D, B, size), when `states`. Outputs: `output` in the module's layout, `h_n` (and
    `c_n`), each (L*D, B, size). Batch and time are dynamic axes.

    >>> import lstmkit
    >>> model = layer_model(lstmkit.LSTM(3, 4, peephole=True).eval())
    >>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
    (['input', 'lengths'], ['output', 'h_n', 'c_n'])
    """
    check_opset(opset)
    spec = module.spec()
    dtype = spec.weights[0].weight_ih.dtype
    if dtype != torch.float32:
        raise ValueError(f"export writes float32 models; the layer holds {dtype} weights")
    g = Graph("")
    layout = ["batch", "time"] if module.batch_first else ["time", "batch"]
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [*layout, spec.input_size])]
    x = g.op("Transpose", ["input"], perm=[1, 0, 2]) if module.batch_first else "input"
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"]))
    names = [f"{n}0" for n in spec.state_names]
    depth = spec.num_layers * spec.num_directions
    if states:
        inputs += [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, [depth, "batch", size])
            for n, size in zip(names, spec.state_sizes)
        ]
    out, finals = recurrent_nodes(
        g, spec, x, "lengths" if lengths else None, names if states else None, use_native
    )
    if module.batch_first:
        out = g.op("Transpose", [out], perm=[1, 0, 2])
    g.nodes.append(helper.make_node("Identity", [out], ["output"]))
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [*layout, None])]
    for n, value, size in zip(spec.state_names, finals, spec.state_sizes):
        g.nodes.append(helper.make_node("Identity", [value], [f"{n}_n"]))
        outputs.append(
            helper.make_tensor_value_info(f"{n}_n", TensorProto.FLOAT, [depth, "batch", size])
        )
    graph = helper.make_graph(g.nodes, "lstmkit_layer", inputs, outputs, g.initializers)
    return finish(graph, opset)


def finish(graph: onnx.GraphProto, opset: int) -> onnx.ModelProto:
    """A checked model around `graph` at `opset`."""
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="lstmkit"
    )
    model.ir_version = 8  # what onnxruntime 1.2x reads for opsets 17-21
    onnx.checker.check_model(model, full_check=True)
    return model
