"""A whole task network as ONNX: torch's exporter for the network, ours for its recurrences.

Why this mechanism (tried on torch 2.13, see the export section of README.md):

- torch.onnx.export(dynamo=False), the TorchScript tracer, records lstmkit's layers as the
  autograd engine's Python loop unrolled at the traced length: 92 constants and 70 Muls for
  a 7-step peephole LSTM, right at T=7 only. A dynamic time axis is impossible that way.
- torch.onnx.export(dynamo=True) stops in torch.export on the lengths checks
  (GuardOnDataDependentSymNode), before any ONNX is written.
- torch's own LSTM symbolic maps nn.LSTM's plain equations only, and is where the known
  length bugs live (pytorch#62240, #48460, onnxruntime#11830).

So each `RecurrentLayer` is traced as one placeholder node (`lstmkit.Recurrent`, through
an autograd.Function's `symbolic`), and the ONNX graph of that node is then built from the
layer's `LayerSpec` by `stack.recurrent_nodes` (Scan over time, or ONNX's LSTM/GRU/RNN
operator where exact) and spliced in. The rest of the network (embeddings, pooling, heads)
is torch's exporter's, whose elementwise and indexing ops have no time loop to unroll.
The recurrence is written from plain data once, tested per variant against lstmkit, and
survives torch's exporter changes, which only ever see an opaque node. The TorchScript
exporter is deprecated in torch 2.x but is the one that keeps a custom-domain node from a
`symbolic`; should it go, only this tracing step changes (dynamo's
`custom_translation_table` can emit the same node). A Python loop over time outside the
lstmkit layers would still be unrolled by the tracer: `check.verify` runs every export at
lengths and batch sizes other than the traced ones, so such a model is refused, not written.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import onnx
import torch
from onnx import helper
from torch import Tensor, nn

from lstmkit.export.graph import Graph
from lstmkit.export.layer import check_opset, finish
from lstmkit.export.stack import recurrent_nodes
from lstmkit.recurrent import RecurrentLayer

DOMAIN = "lstmkit"
_TRACED: list[RecurrentLayer] = []  # the layers of the network being traced, by index


class _Recurrent(torch.autograd.Function):
    """Runs a layer eagerly; under the ONNX tracer it is the node `lstmkit.Recurrent`."""

    @staticmethod
    def forward(ctx, index: int, has_lengths: bool, *tensors):  # type: ignore[override]
        # Zeros of the right shapes: the tracer would record a real run's steps (and refuse
        # its weights as constants), and the symbolic node replaces these values anyway.
        layer = _TRACED[index]  # the tracer takes no module as an argument
        x = tensors[0]
        batch, steps = (x.shape[0], x.shape[1]) if layer.batch_first else (x.shape[1], x.shape[0])
        spec = layer.spec()
        width = spec.num_directions * spec.out_size
        out = x.new_zeros((batch, steps, width) if layer.batch_first else (steps, batch, width))
        depth = spec.num_layers * spec.num_directions
        return (out, *(x.new_zeros(depth, batch, size) for size in spec.state_sizes))

    @staticmethod
    def symbolic(g, index, has_lengths, *tensors):
        spec = _TRACED[index].spec()
        values = g.op(
            f"{DOMAIN}::Recurrent", *tensors, index_i=index, lengths_i=int(has_lengths),
            outputs=1 + len(spec.state_names),
        )  # fmt: skip
        # typed outputs, so that torch's shape inference neither warns nor guesses
        sizes = [spec.num_directions * spec.out_size, *spec.state_sizes]
        for value, size in zip(values, sizes):
            value.setType(tensors[0].type().with_sizes([None, None, size]))
        return values


def _placeholder_forward(layer: RecurrentLayer, index: int):
    def forward(input, hx=None, lengths=None, return_gates=False):
        if return_gates or not isinstance(input, Tensor):
            raise ValueError("export takes padded tensors with lengths=, no PackedSequence")
        tensors = [input]
        if lengths is not None:
            tensors.append(torch.as_tensor(lengths, dtype=torch.int64))
        if hx is not None:
            tensors += list(hx) if isinstance(hx, (tuple, list)) else [hx]
        out, *states = _Recurrent.apply(index, lengths is not None, *tensors)
        return out, (tuple(states) if len(states) > 1 else states[0])

    return forward


@contextlib.contextmanager
def placeholders(net: nn.Module) -> Iterator[list[RecurrentLayer]]:
    """While open, every recurrent layer of `net` traces as one `lstmkit.Recurrent` node."""
    layers = [m for m in net.modules() if isinstance(m, RecurrentLayer)]
    for index, layer in enumerate(layers):
        layer.forward = _placeholder_forward(layer, index)
    _TRACED[:] = layers
    try:
        yield layers
    finally:
        _TRACED.clear()
        for layer in layers:
            del layer.forward


def export_network(
    net: nn.Module,
    args: tuple[Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> onnx.ModelProto:
    """Trace `net(*args)` in eval mode with torch's exporter and splice in the recurrences."""
    check_opset(opset)
    net.eval()
    buffer = io.BytesIO()
    with placeholders(net) as layers, warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter's deprecation and tracer warnings say nothing about this
        # graph: the shapes it warns of are the batch and time axes declared dynamic
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, args, buffer, input_names=input_names, output_names=output_names,
            dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False,
            custom_opsets={DOMAIN: 1}, do_constant_folding=True,
        )  # fmt: skip
    model = onnx.load_from_string(buffer.getvalue())
    return splice(model, layers, opset)


def splice(model: onnx.ModelProto, layers: list[RecurrentLayer], opset: int) -> onnx.ModelProto:
    """Replace each `lstmkit.Recurrent` node by the nodes of its layer's LayerSpec."""
    graph = model.graph
    nodes, inits = [], list(graph.initializer)
    for node in graph.node:
        if node.domain != DOMAIN:
            nodes.append(node)
            continue
        attrs = {a.name: a.i for a in node.attribute}
        layer = layers[attrs["index"]]
        g = Graph(f"rnn{attrs['index']}_")
        x, *rest = node.input
        lengths = rest.pop(0) if attrs["lengths"] else None
        if layer.batch_first:
            x = g.op("Transpose", [x], perm=[1, 0, 2])
        out, finals = recurrent_nodes(g, layer.spec(), x, lengths, rest or None)
        if layer.batch_first:
            out = g.op("Transpose", [out], perm=[1, 0, 2])
        for value, name in zip([out, *finals], node.output):
            g.nodes.append(helper.make_node("Identity", [value], [name]))
        nodes += g.nodes
        inits += g.initializers
    new = helper.make_graph(nodes, graph.name, graph.input, graph.output, inits)
    return finish(new, opset)
