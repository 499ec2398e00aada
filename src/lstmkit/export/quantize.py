"""int8: onnxruntime's dynamic quantization of an exported model, and what it costs.

`quantize_dynamic` stores the weights of MatMul/Gemm (and of ONNX's LSTM/GRU operators)
as int8 and quantizes their activations on the fly, per tensor; nothing is calibrated, so
no data is needed. Inside a Scan body the recurrent MatMul stays float32 (the quantizer
does not enter subgraphs), so variants gain less than plain layers; `int8_share` says how
much of the weights went to int8.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import Tensor

from lstmkit.export.check import feeds
from lstmkit.io import atomic_write


def quantized(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with its MatMul/Gemm/LSTM/GRU weights dynamically quantized to int8."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder, "float.onnx"), Path(folder, "int8.onnx")
        onnx.save(model, source)
        logging.disable(logging.WARNING)  # its advice to pre-process is for image models
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=False)
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(target)


def int8_share(model: onnx.ModelProto) -> float:
    """The share of the weights' elements stored as int8 (counted in every subgraph)."""
    sizes = {"int8": 0, "all": 0}
    for init in _initializers(model.graph):
        n = int(np.prod(init.dims)) if init.dims else 1
        sizes["all"] += n
        if init.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            sizes["int8"] += n
    return sizes["int8"] / max(1, sizes["all"])


def _initializers(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _initializers(attr.g)


def size_on_disk(model: onnx.ModelProto) -> int:
    """Bytes of the serialised model."""
    return model.ByteSize()


def latency_ms(run, args: Sequence[Tensor], *, budget_s: float = 1.0, repeats: int = 200) -> float:
    """Median wall time of `run(args)` in milliseconds, after warm-up, within `budget_s`."""
    for _ in range(3):
        run(args)
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 5 or time.perf_counter() < deadline):
        start = time.perf_counter()
        run(args)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def onnx_runner(sess, names: Sequence[str]):
    """A `latency_ms` runner for an onnxruntime session fed `names` in order."""
    return lambda args: sess.run(None, feeds(sess, names, args))


def save_model(model: onnx.ModelProto, path: Path) -> Path:
    """Write `model` atomically (temporary file, then rename), so no half model remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, model.SerializeToString())
    return path


__all__ = ["int8_share", "latency_ms", "onnx_runner", "quantized", "save_model", "size_on_disk"]
