"""LSTMCell, GRUCell and RNNCell: one step, drop-ins for torch.nn's cells.

They run the layers' own step (`lstmkit.engines.autograd.step`: the recurrent projection,
the equations of `lstmkit.cells`, zoneout) on the same kind of `LayerSpec`, a one-layer,
one-direction layer, so stepping a cell by hand reproduces a layer exactly. Recurrent
dropout and weight drop are variational: their masks are drawn on the first training call
and kept for the whole sequence, until `reset_masks()` is called (call it before each new
batch of sequences).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.cells import LSTMVariant
from lstmkit.engines import LayerSpec
from lstmkit.engines.autograd import step
from lstmkit.layers import reject_lstm_only
from lstmkit.params import Noise, check_init, make_noise, register_direction, reset_direction
from lstmkit.recurrent import layer_spec, weight_names
from lstmkit.sequences import DtypeError, ShapeError


class _Cell(nn.Module):
    """Shared by the cells: parameters without suffix, input checks, masks, one step."""

    state_count = 1
    mode: str
    # A cell is a one-layer, one-direction layer without projection to `layer_spec`.
    num_layers: ClassVar[int] = 1
    num_directions: ClassVar[int] = 1
    proj_size: ClassVar[int] = 0
    dropout: ClassVar[float] = 0.0
    engine: ClassVar[str] = "autograd"
    checkpoint_every: ClassVar[int] = 0  # one step: nothing to recompute

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_gates: int, noise: Noise,
        variant: LSTMVariant | None, factory: dict,
    ) -> None:  # fmt: skip
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.num_gates, self.noise, self.variant = num_gates, noise, variant
        names = register_direction(
            self, "", input_size, hidden_size, num_gates, bias=bias, variant=variant,
            factory=factory,
        )  # fmt: skip
        self._weight_names = [weight_names(names, "")]
        self._masks: tuple[Tensor | None, Tensor] | None = None

    def spec(self) -> LayerSpec:
        """The cell as the engines see it: a one-layer, one-direction layer."""
        return layer_spec(self)

    def reset_masks(self) -> None:
        """Forget the recurrent-dropout and weight-drop masks; new ones come with the next call."""
        self._masks = None

    def _step(self, input: Tensor, hx: Any) -> tuple[Tensor, ...]:
        name = type(self).__name__
        if not isinstance(input, Tensor) or input.dim() not in (1, 2):
            shape = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"{name} expects a 2-D (batch, input_size) or 1-D input, got {shape}")
        if not input.is_floating_point() or input.dtype != self.weight_ih.dtype:
            raise DtypeError(
                f"{name}: input dtype {input.dtype} must be the layer's {self.weight_ih.dtype}"
            )
        if input.shape[-1] != self.input_size:
            raise ShapeError(
                f"{name} was built with input_size={self.input_size} but the input has "
                f"{input.shape[-1]} features"
            )
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        state = self._initial(hx, x, unbatched)
        spec = layer_spec(self)
        w = spec.weights[0]
        weight_hh, h_mask = w.weight_hh, None
        if self.training and (self.noise.recurrent_dropout or self.noise.weight_drop):
            # Variational: the masks stay for the whole sequence, one call per step (the
            # layers draw them per call, weight drop first: `autograd.draw_masks`).
            if self._masks is None or (self._masks[0] is not None
                                       and self._masks[0].shape != state[0].shape):  # fmt: skip
                self._masks = (
                    self.noise.recurrent_mask(state[0]),
                    self.noise.drop_weight(weight_hh.new_ones(weight_hh.shape)),
                )
            h_mask, weight_mask = self._masks
            weight_hh = weight_hh * weight_mask
        xw = F.linear(x, w.weight_ih, w.bias_ih)  # (B, G*H)
        new, _ = step(spec, w, weight_hh, h_mask, xw, state, False)
        return tuple(s.squeeze(0) for s in new) if unbatched else new

    def _initial(self, hx: Any, x: Tensor, unbatched: bool) -> tuple[Tensor, ...]:
        if hx is None:
            return tuple(x.new_zeros(x.shape[0], self.hidden_size) for _ in range(self.state_count))
        given = tuple(hx) if self.state_count > 1 else (hx,)
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        for state in given:
            if not isinstance(state, Tensor) or tuple(state.shape) != expected:
                shape = tuple(state.shape) if isinstance(state, Tensor) else type(state).__name__
                raise ShapeError(
                    f"{type(self).__name__}: each state must have shape {expected}, got {shape}"
                )
        return tuple(s.unsqueeze(0) for s in given) if unbatched else given

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class LSTMCell(_Cell):
    """One LSTM step, drop-in for `torch.nn.LSTMCell`, with the variants of `lstmkit.LSTM`.

    Args: input_size, hidden_size, bias (True), device, dtype; keyword-only peephole,
    cifg, layer_norm, forget_bias, init, t_max, recurrent_dropout, zoneout, weight_drop,
    as on `lstmkit.LSTM`. Parameters: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih,
    bias_hh (G*H,), and the variants' (weight_ch, ln_*).

    Inputs: input (B, I) or (I,); hx = (h, c), each (B, H) or (H,), zeros when omitted.
    Outputs: (h', c').

    >>> cell = LSTMCell(3, 5, peephole=True)
    >>> h, c = cell(torch.randn(2, 3))
    >>> h.shape
    torch.Size([2, 5])
    """

    state_count = 2
    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        peephole: bool = False,
        cifg: bool = False,
        layer_norm: bool = False,
        forget_bias: float = 0.0,
        init: str = "default",
        t_max: float | None = None,
        recurrent_dropout: float = 0.0,
        zoneout: float | tuple[float, float] = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        check_init(init, t_max, forget_bias, bias)
        variant = LSTMVariant(bool(peephole), bool(cifg), bool(layer_norm))
        noise = make_noise(recurrent_dropout, zoneout, weight_drop, states=2)
        factory = {"device": device, "dtype": dtype}
        super().__init__(input_size, hidden_size, bias, variant.num_gates, noise, variant, factory)
        self.forget_bias, self.init, self.t_max = float(forget_bias), init, t_max
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_direction(
            self, "", self.hidden_size, variant=self.variant, forget_bias=self.forget_bias,
            init=self.init, t_max=self.t_max,
        )  # fmt: skip

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        h, c = self._step(input, hx)
        return h, c


class GRUCell(_Cell):
    """One GRU step, drop-in for `torch.nn.GRUCell` (equations on `lstmkit.GRU`).

    Inputs: input (B, I) or (I,); hx (B, H) or (H,). Output: h'.

    >>> GRUCell(3, 5)(torch.randn(2, 3)).shape
    torch.Size([2, 5])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        **lstm_only: Any,
    ) -> None:
        reject_lstm_only(type(self).__name__, lstm_only)
        noise = make_noise(recurrent_dropout, zoneout, weight_drop, states=1)
        factory = {"device": device, "dtype": dtype}
        super().__init__(input_size, hidden_size, bias, self._gates, noise, None, factory)
        self.reset_parameters()

    _gates = 3
    mode = "GRU"

    def reset_parameters(self) -> None:
        reset_direction(self, "", self.hidden_size)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step(input, hx)[0]


class RNNCell(GRUCell):
    """One Elman step, drop-in for `torch.nn.RNNCell`: h' = act(W_ih x + b_ih + W_hh h + b_hh).

    >>> RNNCell(3, 5, nonlinearity="relu")(torch.randn(2, 3)).shape
    torch.Size([2, 5])
    """

    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
        **options: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype, **options)


__all__ = ["GRUCell", "LSTMCell", "RNNCell"]
