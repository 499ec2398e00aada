"""LSTM, GRU and RNN layers: drop-ins for torch.nn's, with variants, lengths and gate recording.

Each layer owns torch-named parameters and delegates the computation over time to an
engine (`lstmkit.engines.select` picks it). The layer checks its input once
(`lstmkit.sequences`) and hands the engine a canonical (T, B, I) batch.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstmkit.cells import (
    LSTMVariant,
    StepParams,
    gru_step,
    lstm_step,
    rnn_relu_step,
    rnn_tanh_step,
)
from lstmkit.engines.select import check_engine_name, engine_for
from lstmkit.params import (
    TORCH_NAMES,
    Noise,
    check_init,
    make_noise,
    register_direction,
    reset_direction,
    step_params,
)
from lstmkit.sequences import Canonical, canonicalize

LSTM_ONLY = ("peephole", "cifg", "layer_norm", "forget_bias", "init", "t_max")


class DirectionWeights(NamedTuple):
    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    params: StepParams


class RecurrentLayer(nn.Module):
    """What LSTM, GRU and RNN share: parameters, input checks, engine dispatch.

    Subclasses set `mode` (torch's name for the kernel), `num_gates`, `state_names` and
    `step` (a function of `lstmkit.cells`).
    """

    mode: ClassVar[str]
    state_names: ClassVar[tuple[str, ...]]
    step: Callable
    variant: LSTMVariant | None = None

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int,
        device: Any,
        dtype: Any,
        *,
        num_gates: int,
        noise: Noise,
        engine: str,
    ) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size, num_layers, proj_size, dropout)
        if dropout > 0 and num_layers == 1:
            warnings.warn(  # the same warning as torch.nn, for a drop-in
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.num_gates = num_gates
        self.noise = noise
        self.engine = check_engine_name(engine)
        self._flat_weights_names: list[str] = []
        factory = {"device": device, "dtype": dtype}
        out_size = proj_size or hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * self.num_directions
            for direction in range(self.num_directions):
                names = register_direction(
                    self, _suffix(layer, direction), layer_input, hidden_size, num_gates,
                    bias=bias, proj_size=proj_size, variant=self.variant, factory=factory,
                )  # fmt: skip
                self._flat_weights_names += [n for n in names if n.split("_l")[0] in TORCH_NAMES]

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """torch's grouping: the torch-named parameters of each layer and direction."""
        per = len(self._flat_weights_names) // (self.num_layers * self.num_directions)
        flat = self.flat_weights()
        return [flat[i : i + per] for i in range(0, len(flat), per)]

    def flat_weights(self) -> list[Tensor]:
        """The torch-named parameters in torch's order, as torch's kernels take them."""
        return [getattr(self, name) for name in self._flat_weights_names]

    def flatten_parameters(self) -> None:
        """Accepted for compatibility with torch.nn; lstmkit keeps no flattened copy."""

    def direction(self, layer: int, direction: int) -> DirectionWeights:
        """The parameters of one layer in one direction."""
        sfx = _suffix(layer, direction)
        return DirectionWeights(
            getattr(self, "weight_ih" + sfx),
            getattr(self, "weight_hh" + sfx),
            getattr(self, "bias_ih" + sfx, None),
            getattr(self, "bias_hh" + sfx, None),
            step_params(self, sfx),
        )

    def reset_parameters(self) -> None:
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                reset_direction(self, _suffix(layer, direction), self.hidden_size)

    def state_sizes(self) -> tuple[int, ...]:
        """Feature size of each state: h is proj_size when projecting, c is hidden_size."""
        return (self.proj_size or self.hidden_size,)

    def _run(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | Sequence[Tensor] | None,
        lengths: Sequence[int] | Tensor | None,
        record: bool,
    ) -> tuple[Tensor | PackedSequence, tuple[Tensor, ...], dict[str, Tensor] | None]:
        name = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        seq = canonicalize(
            input, input_size=self.input_size, dtype=dtype, batch_first=self.batch_first,
            lengths=lengths, name=name,
        )  # fmt: skip
        states = self._initial_states(hx, seq)
        engine = engine_for(self, seq.x, record)
        output, finals, gates = engine.run(self, seq.x, seq.lengths, states, record)
        recorded = seq.record(gates) if gates is not None else None
        return seq.output(output), seq.states(finals), recorded

    def _initial_states(
        self, hx: Tensor | Sequence[Tensor] | None, seq: Canonical
    ) -> tuple[Tensor, ...]:
        """Zeros when hx is None; else checked against (L*D, B, size) per state."""
        x, name = seq.x, type(self).__name__
        batch, depth = x.shape[1], self.num_layers * self.num_directions
        sizes = self.state_sizes()
        if hx is None:
            return tuple(x.new_zeros(depth, batch, size) for size in sizes)
        given = tuple(hx) if len(sizes) > 1 else (hx,)
        if len(sizes) > 1 and (not isinstance(hx, (tuple, list)) or len(hx) != len(sizes)):
            raise TypeError(f"{name} expects hx as a tuple (h_0, c_0), got {type(hx).__name__}")
        states = []
        for state_name, state, size in zip(self.state_names, given, sizes):
            if not isinstance(state, Tensor):
                raise TypeError(f"{name}: {state_name}_0 must be a Tensor, got {type(state)}")
            expected = (depth, size) if seq.unbatched else (depth, batch, size)
            if tuple(state.shape) != expected:
                raise ValueError(
                    f"{name}: {state_name}_0 must have shape {expected} "
                    "(num_layers * num_directions, batch, size), got "
                    f"{tuple(state.shape)}"
                )
            if state.dtype != x.dtype:
                raise TypeError(
                    f"{name}: {state_name}_0 has dtype {state.dtype} but the input has {x.dtype}"
                )
            states.append(state.unsqueeze(1) if seq.unbatched else state)
        return tuple(states)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = dict(num_layers=1, bias=True, batch_first=False, dropout=0.0,
                        bidirectional=False, proj_size=0, engine="auto")  # fmt: skip
        for key, default in defaults.items():
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)!r}"
        return text


class LSTM(RecurrentLayer):
    r"""A multi-layer LSTM, drop-in for `torch.nn.LSTM`, with its published variants.

    For each step, with torch's gate order (W: input weights, U: recurrent weights):

        i_t = σ(W_i x_t + U_i h_{t-1} + b_i)      f_t = σ(W_f x_t + U_f h_{t-1} + b_f)
        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)   o_t = σ(W_o x_t + U_o h_{t-1} + b_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t           h_t = o_t ⊙ tanh(c_t)

    Args (torch's, same defaults):
        input_size, hidden_size: features of x_t and of h_t.
        num_layers (1), bias (True), batch_first (False), bidirectional (False).
        dropout (0.0): dropout on each layer's output except the last, in training.
        proj_size (0): LSTMP (Sak et al. 2014), h_t = W_hr (o_t ⊙ tanh(c_t)) of size proj_size.
    Variants (keyword-only, combinable; the defaults give torch's LSTM):
        peephole (False): Gers & Schmidhuber (2000); i and f add w ⊙ c_{t-1}, o adds w ⊙ c_t,
            with diagonal weights `weight_ch_l{k}` ((i, f, o) or (i, o) under cifg).
        cifg (False): coupled input-forget gate, f_t = 1 - i_t (Greff et al. 2017); the weights
            then hold three gate groups (i, g, o).
        layer_norm (False): Ba et al. (2016); layer norm on each gate group's pre-activation
            and on c_t before the output tanh (the carried c_t stays unnormalised).
        forget_bias (0.0): added to the forget-gate bias at initialisation (1.0 is the usual
            choice, Jozefowicz et al. 2015); 0 keeps torch's initialisation.
        init ("default"): "chrono" sets b_f = log(U(1, t_max - 1)), b_i = -b_f (Tallec &
            Ollivier 2018), which makes lags of up to t_max steps learnable; needs t_max.
        recurrent_dropout (0.0): variational dropout on h_{t-1}, one mask per sequence
            (Gal & Ghahramani 2016), training only.
        zoneout (0.0): one rate, or (rate_h, rate_c) (Krueger et al. 2017); training keeps
            each unit's previous value with that probability, eval uses the expectation.
        weight_drop (0.0): DropConnect on weight_hh, one mask per forward (Merity et al.
            2018), training only.
        engine ("auto"): "native" (torch's oneDNN/cuDNN kernels, plain equations only),
            "autograd" (step-by-step, everything) or "auto" (native where it applies).

    Inputs: input, (h_0, c_0), lengths, return_gates
        input: (T, B, input_size), (B, T, input_size) if batch_first, (T, input_size)
            unbatched, or a PackedSequence.
        h_0: (num_layers * D, B, proj_size or hidden_size); c_0: (num_layers * D, B,
            hidden_size); zeros when omitted. D = 2 if bidirectional else 1.
        lengths: optional, B valid lengths (list or tensor): outputs past a length are zero,
            h_n and c_n are the states at each sequence's last valid step, and the reverse
            direction runs over each sequence's valid part only, as with packing.
        return_gates: also return every step's i, f, g, o, c, h as a dict of tensors of
            shape (num_layers * D, T, B, size) ((.., B, T, ..) if batch_first); zero past
            each sequence's end. It runs the autograd engine.
    Outputs: output, (h_n, c_n)[, gates]
        output: (T, B, D * (proj_size or hidden_size)), in the input's layout.

    >>> lstm = LSTM(8, 16, num_layers=2, batch_first=True, layer_norm=True)
    >>> out, (h, c) = lstm(torch.randn(4, 10, 8), lengths=[10, 7, 3, 1])
    >>> out.shape, h.shape
    (torch.Size([4, 10, 16]), torch.Size([2, 4, 16]))
    """

    mode = "LSTM"
    state_names = ("h", "c")
    step = staticmethod(lstm_step)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
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
        engine: str = "auto",
    ) -> None:
        check_init(init, t_max, forget_bias, bias)
        self.variant = LSTMVariant(bool(peephole), bool(cifg), bool(layer_norm))
        self.forget_bias, self.init, self.t_max = float(forget_bias), init, t_max
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size, device, dtype, num_gates=self.variant.num_gates,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=2), engine=engine,
        )  # fmt: skip
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                reset_direction(
                    self, _suffix(layer, direction), self.hidden_size, variant=self.variant,
                    forget_bias=self.forget_bias, init=self.init, t_max=self.t_max,
                )  # fmt: skip

    def state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: tuple[Tensor, Tensor] | None = None,
        *,
        lengths: Sequence[int] | Tensor | None = None,
        return_gates: bool = False,
    ) -> Any:
        output, (h_n, c_n), gates = self._run(input, hx, lengths, return_gates)
        return (output, (h_n, c_n), gates) if return_gates else (output, (h_n, c_n))

    def extra_repr(self) -> str:
        text = super().extra_repr()
        for key in ("peephole", "cifg", "layer_norm"):
            if getattr(self.variant, key):
                text += f", {key}=True"
        return text


class GRU(RecurrentLayer):
    r"""A multi-layer GRU, drop-in for `torch.nn.GRU` (Cho et al. 2014), torch's equations:

        r_t = σ(W_r x_t + b_ir + U_r h_{t-1} + b_hr)
        z_t = σ(W_z x_t + b_iz + U_z h_{t-1} + b_hz)
        n_t = tanh(W_n x_t + b_in + r_t ⊙ (U_n h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Args, inputs and outputs are torch.nn.GRU's, plus `lengths=` and `return_gates=` (r, z,
    n, h) as on `LSTM`, and the recurrent noise switches `recurrent_dropout`, `zoneout`
    (on h) and `weight_drop`, and `engine`.

    >>> gru = GRU(8, 16, batch_first=True)
    >>> out, h = gru(torch.randn(4, 10, 8))
    >>> out.shape, h.shape
    (torch.Size([4, 10, 16]), torch.Size([1, 4, 16]))
    """

    mode = "GRU"
    state_names = ("h",)
    step = staticmethod(gru_step)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        engine: str = "auto",
        **lstm_only: Any,
    ) -> None:
        _reject_lstm_only("GRU", lstm_only)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
            device, dtype, num_gates=3,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=1), engine=engine,
        )  # fmt: skip
        self.reset_parameters()

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | None = None,
        *,
        lengths: Sequence[int] | Tensor | None = None,
        return_gates: bool = False,
    ) -> Any:
        output, (h_n,), gates = self._run(input, hx, lengths, return_gates)
        return (output, h_n, gates) if return_gates else (output, h_n)


class RNN(GRU):
    r"""A multi-layer Elman RNN, drop-in for `torch.nn.RNN`:

        h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh (default) or relu

    Args, inputs and outputs are torch.nn.RNN's (with `nonlinearity`), plus the options of
    `GRU`.

    >>> rnn = RNN(8, 16, nonlinearity="relu")
    >>> out, h = rnn(torch.randn(10, 4, 8))
    >>> out.shape
    torch.Size([10, 4, 16])
    """

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        weight_drop: float = 0.0,
        engine: str = "auto",
        **lstm_only: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        _reject_lstm_only("RNN", lstm_only)
        RecurrentLayer.__init__(
            self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype, num_gates=1,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=1), engine=engine,
        )  # fmt: skip
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.step = rnn_tanh_step if nonlinearity == "tanh" else rnn_relu_step
        self.reset_parameters()

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


def _suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def _reject_lstm_only(name: str, options: dict[str, Any]) -> None:
    """A clear error for LSTM variants passed to a GRU or RNN, a TypeError for the rest."""
    for key in options:
        if key in LSTM_ONLY:
            raise ValueError(
                f"{name} has no option {key!r}: {', '.join(LSTM_ONLY)} are LSTM variants "
                "(they act on the LSTM's gates and cell); use lstmkit.LSTM for them"
            )
        raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")


def _check_sizes(
    input_size: int, hidden_size: int, num_layers: int, proj_size: int, dropout: float
) -> None:
    """torch.nn's argument checks, with messages that name the value received."""
    minimums = {"input_size": (input_size, 0), "hidden_size": (hidden_size, 1),
                "num_layers": (num_layers, 1), "proj_size": (proj_size, 0)}  # fmt: skip
    for key, (value, low) in minimums.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{key} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{key} must be at least {low}, got {value}")
    if proj_size >= hidden_size and proj_size:
        raise ValueError(
            f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
            f"hidden_size={hidden_size}"
        )
    if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1:
        raise ValueError(f"dropout should be a number in range [0, 1], got {dropout!r}")


__all__ = ["GRU", "LSTM", "RNN", "RecurrentLayer"]
