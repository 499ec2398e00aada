"""A small ONNX graph builder: nodes and initializers with unique names, under one prefix."""

from __future__ import annotations

import itertools

import numpy as np
from onnx import GraphProto, NodeProto, TensorProto, helper, numpy_helper
from torch import Tensor


class Graph:
    """Collects nodes and initializers; every name it makes starts with `prefix`.

    Subgraphs (a Scan body) are `Graph`s too; they may read the outer graph's initializers
    by name, which ONNX allows (outer-scope values), so a weight is stored once.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = itertools.count()

    def name(self, hint: str) -> str:
        """A fresh value name."""
        return f"{self.prefix}{hint}_{next(self._count)}"

    def const(self, value: Tensor | np.ndarray | float | list, hint: str = "c", dtype=None) -> str:
        """An initializer holding `value` (a tensor is detached and copied); its name."""
        if isinstance(value, Tensor):
            array = value.detach().cpu().numpy()
        elif isinstance(value, np.ndarray):
            array = value
        else:
            array = np.asarray(value, dtype=dtype or np.float32)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def ints(self, values: list[int], hint: str = "i") -> str:
        """An int64 initializer (shapes, axes, split sizes)."""
        return self.const(np.asarray(values, dtype=np.int64), hint)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs) -> str | list[str]:
        """Add one node; returns its output name, or the list of them when `outputs` > 1."""
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names

    def subgraph(self, name: str, inputs: list[tuple[str, int]], outputs: list[str]) -> GraphProto:
        """This builder's nodes as a graph (a loop body) with float32 inputs and outputs of
        the given ranks (names as given) and `outputs` as its outputs; no initializers."""
        return helper.make_graph(
            self.nodes,
            name,
            [_value(n, rank) for n, rank in inputs],
            [_value(n, None) for n in outputs],
        )


def _value(name: str, rank: int | None, elem: int = TensorProto.FLOAT):
    shape = None if rank is None else [None] * rank
    return helper.make_tensor_value_info(name, elem, shape)


def dim(g: Graph, x: str, axis: int) -> str:
    """The size of `x` along `axis` as a (1,) int64 tensor."""
    return g.op("Shape", [x], start=axis, end=axis + 1)


def scalar(g: Graph, one: str) -> str:
    """A (1,) tensor as a scalar."""
    return g.op("Squeeze", [one, g.ints([0])])


def valid_mask(g: Graph, lengths: str, steps: str) -> str:
    """(T, B, 1) bool, true where step t is inside sequence b (t < lengths[b])."""
    t = g.op("Range", [_zero(g), scalar(g, steps), _one(g)])  # (T,)
    column = g.op("Unsqueeze", [t, g.ints([1])])  # (T, 1)
    below = g.op("Less", [column, g.op("Unsqueeze", [lengths, g.ints([0])])])  # (T, B)
    return g.op("Unsqueeze", [below, g.ints([2])])


def _zero(g: Graph) -> str:
    return g.const(np.asarray(0, dtype=np.int64), "zero")


def _one(g: Graph) -> str:
    return g.const(np.asarray(1, dtype=np.int64), "one")


def zeros(g: Graph, batch: str, size: int) -> str:
    """A (B, size) float32 zero state."""
    shape = g.op("Concat", [batch, g.ints([size])], axis=0)
    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])
    return g.op("ConstantOfShape", [shape], value=value)
