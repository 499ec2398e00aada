"""An exported model against lstmkit: onnxruntime and the torch module on the same random inputs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

# float32 onnxruntime against float32 torch: the same equations in another summation order.
# Errors are measured relative to the output's scale, max|a - b| / max(1, max|b|).
TOLERANCE = 1e-5


class ExportError(ValueError):
    """The exported model does not compute what lstmkit computes; nothing was written."""


def session(model: onnx.ModelProto | bytes | str, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session on `model` (a ModelProto, its bytes or a path)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # its warnings about unused initializers are not ours
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def mixed_lengths(batch: int, steps: int, gen: torch.Generator) -> Tensor:
    """(B,) int64 lengths in [1, steps], with the full length first and 1 among them when
    the batch has room: the cases where masking and reversal go wrong."""
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    if batch > 2:
        lengths[-1] = 1
    return lengths


def feeds(sess: ort.InferenceSession, names: Sequence[str], args: Sequence[Tensor]) -> dict:
    """The session's inputs by name; an input the network never read (a decoder without
    input feeding ignores `feed`) is dropped by torch's exporter, so it is not fed."""
    wanted = {i.name for i in sess.get_inputs()}
    return {n: a.detach().cpu().numpy() for n, a in zip(names, args) if n in wanted}


def flat(value) -> list[Tensor]:
    """A module's outputs (a tensor, or nested tuples of them) as a flat list."""
    if isinstance(value, Tensor):
        return [value]
    return [t for v in value for t in flat(v)]


def max_error(
    sess: ort.InferenceSession,
    net: nn.Module,
    cases: Sequence[tuple[Tensor, ...]],
    names: Sequence[str],
) -> tuple[float, float]:
    """(max abs error, max scaled error) of `sess` against `net` over the input `cases`."""
    worst_abs = worst_scaled = 0.0
    net.eval()
    for args in cases:
        with torch.no_grad():
            expected = flat(net(*args))
        got = sess.run(None, feeds(sess, names, args))
        if len(got) != len(expected):
            raise ExportError(f"the model has {len(got)} outputs but lstmkit {len(expected)}")
        for g, e in zip(got, expected):
            e = e.numpy()
            if g.shape != e.shape:
                raise ExportError(f"an output has shape {g.shape} in onnxruntime, {e.shape} here")
            if e.size == 0:
                continue
            # equal values (the -inf of banned tokens, a bool mask) are no error
            with np.errstate(invalid="ignore"):  # inf - inf, masked out by the where
                diff = np.where(g == e, 0.0, np.abs(g.astype(np.float64) - e))
            err = float(diff.max())
            worst_abs = max(worst_abs, err)
            worst_scaled = max(worst_scaled, err / max(1.0, float(np.abs(e).max())))
    return worst_abs, worst_scaled


def verify(
    model: onnx.ModelProto,
    net: nn.Module,
    sample: Callable[[int, int, torch.Generator], tuple[Tensor, ...]],
    names: Sequence[str],
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> float:
    """Check `model` against `net` at several batch sizes and lengths; the max abs error.

    `sample(batch, steps, generator)` draws one input tuple with mixed lengths. The sizes
    differ from any traced ones, so a model that fixed an axis fails here.

    Raises:
        ExportError: an output differs by more than `tolerance` (relative to its scale).
    """
    gen = torch.Generator().manual_seed(seed)
    cases = [sample(b, t, gen) for b, t in ((1, 1), (5, 13), (16, 9))]
    worst, scaled = max_error(session(model), net, cases, names)
    if not scaled <= tolerance:
        raise ExportError(
            f"the exported model differs from lstmkit by {worst:.3g} (scaled {scaled:.3g} > "
            f"{tolerance:g}) on random inputs; no file was written"
        )
    return worst
