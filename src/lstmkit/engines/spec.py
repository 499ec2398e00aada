"""LayerSpec: everything an engine reads about a layer, as plain data, never the nn.Module.

The modules (`lstmkit.recurrent`, `lstmkit.cell_layers`) build one per call in one place
(`recurrent.layer_spec`), from their switches, their mode (train or eval) and their current
parameter tensors; engines, the stack runner and `select` read only this. A new cell
therefore touches the equations (`lstmkit.cells`: its step, in STEPS and STATE_NAMES), its
module and, for speed, the kernels, but no engine's interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor

from lstmkit.cells import STATE_NAMES, LSTMVariant, StepParams
from lstmkit.params import Noise


class DirectionWeights(NamedTuple):
    """The parameters of one layer in one direction (None where the layer has none)."""

    weight_ih: Tensor  # (G*H, I)
    weight_hh: Tensor  # (G*H, P)
    bias_ih: Tensor | None  # (G*H,)
    bias_hh: Tensor | None  # (G*H,)
    params: StepParams  # what the step reads beyond the two projections


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """A recurrent layer as an engine sees it: sizes, switches, mode and weights.

    Args:
        mode: torch's kernel name, "LSTM", "GRU", "RNN_TANH" or "RNN_RELU".
        input_size, hidden_size, proj_size (0: none): feature sizes (I, H, P).
        num_layers, num_directions (1 or 2), num_gates (G: 4, 3 under CIFG or for the GRU, 1).
        bias: whether the layer has b_ih and b_hh.
        dropout: inter-layer dropout rate (training only).
        variant: the LSTM's equation switches; None for the GRU and RNN.
        noise: recurrent dropout, zoneout and weight drop rates.
        engine: the engine asked for, "auto" or a name of `select.ENGINES`.
        training: the module's mode at the time of the call.
        weights: per layer and direction, index layer * num_directions + direction.
        checkpoint_every: k > 0 runs training steps in recomputed segments of k steps
            (`engines.recompute`); 0: every step's buffers are kept.

    >>> import torch
    >>> w = DirectionWeights(torch.zeros(4, 2), torch.zeros(4, 1), None, None, StepParams())
    >>> spec = LayerSpec("LSTM", 2, 1, 0, 1, 1, 4, False, 0.0, LSTMVariant(), Noise(),
    ...                  "auto", False, (w,))
    >>> spec.state_sizes, spec.direction(0, 0) is w
    ((1, 1), True)
    """

    mode: str
    input_size: int
    hidden_size: int
    proj_size: int
    num_layers: int
    num_directions: int
    num_gates: int
    bias: bool
    dropout: float
    variant: LSTMVariant | None
    noise: Noise
    engine: str
    training: bool
    weights: tuple[DirectionWeights, ...]
    checkpoint_every: int = 0

    @property
    def out_size(self) -> int:
        """Features of h_t: proj_size when projecting, else hidden_size."""
        return self.proj_size or self.hidden_size

    @property
    def state_names(self) -> tuple[str, ...]:
        return STATE_NAMES[self.mode]

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Features of each state: h is out_size, the LSTM's c is hidden_size."""
        if self.mode == "LSTM":
            return (self.out_size, self.hidden_size)
        return (self.out_size,)

    def direction(self, layer: int, direction: int) -> DirectionWeights:
        """The weights of one layer in one direction."""
        return self.weights[layer * self.num_directions + direction]

    def flat_weights(self) -> list[Tensor]:
        """torch's flat weight list (w_ih, w_hh[, b_ih, b_hh][, w_hr] per direction)."""
        flat = []
        for w in self.weights:
            flat += (w.weight_ih, w.weight_hh)
            if w.bias_ih is not None:
                flat += (w.bias_ih, w.bias_hh)
            if w.params.weight_hr is not None:
                flat.append(w.params.weight_hr)
        return flat

    def weights_require_grad(self) -> bool:
        """Whether any weight takes part in autograd (a training step will follow)."""
        return any(
            t is not None and t.requires_grad
            for w in self.weights
            for t in (w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh, *w.params)
        )
