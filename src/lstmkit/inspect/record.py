"""Record every lstmkit recurrent layer's activations while a model runs, leaving it unchanged.

`record_gates(model)` swaps, for the duration of a ``with`` block only, the ``forward`` of
each `lstmkit.layers` LSTM/GRU/RNN inside ``model`` for one that asks the layer for
``return_gates=True``, keeps the gates and hands the caller the usual outputs. Nothing in
lstmkit records anything otherwise, so normal runs pay nothing for inspection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor, nn

from lstmkit.recurrent import RecurrentLayer

__all__ = ["LayerRecord", "Recording", "record_gates"]

# The gates squashed by a sigmoid into (0, 1), whose saturation Karpathy et al. (2015) plot.
SIGMOID_GATES = {"LSTM": ("i", "f", "o"), "GRU": ("r", "z")}


@dataclass
class LayerRecord:
    """The activations one recurrent module recorded in its first call.

    ``gates[name]`` has shape (L*D, B, T, size) (batch first, whatever the layer's layout):
    row ``layer * D + direction``; the reverse direction is given in the input's time order.
    ``lengths`` (B,) are the valid steps (None: every sequence is T long).
    """

    name: str  # the module's path inside the model ("encoder.rnn")
    mode: str  # "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
    num_layers: int
    num_directions: int
    gates: dict[str, np.ndarray]
    lengths: np.ndarray | None = None

    @property
    def batch(self) -> int:
        """Sequences in the recorded batch."""
        return next(iter(self.gates.values())).shape[1]

    @property
    def steps(self) -> int:
        """Time steps T of the recorded batch."""
        return next(iter(self.gates.values())).shape[2]

    @property
    def sigmoid_gates(self) -> tuple[str, ...]:
        """The recorded gates that lie in (0, 1): i, f, o (LSTM) or r, z (GRU)."""
        return tuple(g for g in SIGMOID_GATES.get(self.mode, ()) if g in self.gates)

    def slices(self) -> list[tuple[int, int]]:
        """Every (layer, direction) pair, in the gates' row order."""
        layers, directions = range(self.num_layers), range(self.num_directions)
        return [(layer, d) for layer in layers for d in directions]

    def gate(self, name: str, layer: int, direction: int) -> np.ndarray:
        """The activations (B, T, size) of gate ``name`` at one layer and direction."""
        return self.gates[name][layer * self.num_directions + direction]

    def mask(self) -> np.ndarray:
        """(B, T) True at the valid steps of each sequence."""
        if self.lengths is None:
            return np.ones((self.batch, self.steps), dtype=bool)
        return np.arange(self.steps)[None, :] < self.lengths[:, None]

    def label(self, layer: int, direction: int) -> str:
        """A caption such as ``encoder.rnn layer 0 forward``."""
        way = ("forward", "backward")[direction] if self.num_directions == 2 else ""
        return f"{self.name} layer {layer} {way}".strip()


@dataclass
class Recording:
    """What `record_gates` collected: one `LayerRecord` per module that ran."""

    layers: list[LayerRecord] = field(default_factory=list)

    def first(self, mode: str | None = None) -> LayerRecord:
        """The first recorded module (of ``mode``, e.g. "LSTM", when given)."""
        for record in self.layers:
            if mode is None or record.mode == mode:
                return record
        raise ValueError(
            f"no {mode or 'recurrent'} layer ran while recording; the model has no lstmkit "
            "LSTM/GRU/RNN on this path"
        )


def _as_lengths(value: Any, batch: int) -> np.ndarray | None:
    if value is None:
        return None
    lengths = np.asarray(value.cpu() if isinstance(value, Tensor) else value, dtype=np.int64)
    return lengths if lengths.shape == (batch,) else None


def _to_batch_first(gates: dict[str, Tensor], module: RecurrentLayer) -> dict[str, np.ndarray]:
    """(L*D, B, T, size) float arrays from what the layer returned in its input's layout."""
    out = {}
    for name, value in gates.items():
        value = value.detach().float().cpu()
        if value.dim() == 3:  # unbatched input: (L*D, T, size)
            value = value.unsqueeze(1)
        elif not module.batch_first:
            value = value.transpose(1, 2)
        out[name] = value.numpy()
    return out


@contextmanager
def record_gates(model: nn.Module) -> Iterator[Recording]:
    """Within the block, every lstmkit recurrent layer of ``model`` records its gates.

    Each module keeps its first call's activations (a decoder stepped one token at a time
    would otherwise give a record per token); the outputs the model sees are unchanged, and
    gradients flow through them as usual. Recording runs the step-by-step autograd engine.

    >>> import torch
    >>> from lstmkit.layers import LSTM
    >>> lstm = LSTM(3, 4, batch_first=True)
    >>> with record_gates(lstm) as rec:
    ...     _ = lstm(torch.randn(2, 5, 3))
    >>> rec.layers[0].gate("f", 0, 0).shape
    (2, 5, 4)
    """
    recording = Recording()
    patched = [(n, m) for n, m in model.named_modules() if isinstance(m, RecurrentLayer)]
    for name, module in patched:
        module.forward = _recording_forward(module, name or type(module).__name__, recording)
    try:
        yield recording
    finally:
        for _, module in patched:
            del module.forward  # the instance attribute goes; the class's forward is back


def _recording_forward(module: RecurrentLayer, name: str, recording: Recording):
    original = type(module).forward.__get__(module)
    seen = [False]

    def forward(input: Any, hx: Any = None, *, lengths: Any = None, return_gates: bool = False):
        output, state, gates = original(input, hx, lengths=lengths, return_gates=True)
        if not seen[0]:
            seen[0] = True
            arrays = _to_batch_first(gates, module)
            batch = next(iter(arrays.values())).shape[1]
            if isinstance(input, nn.utils.rnn.PackedSequence):
                lengths = nn.utils.rnn.pad_packed_sequence(input)[1]
            shape = (module.mode, module.num_layers, module.num_directions)
            recording.layers.append(LayerRecord(name, *shape, arrays, _as_lengths(lengths, batch)))
        return (output, state, gates) if return_gates else (output, state)

    return forward
