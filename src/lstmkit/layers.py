"""LSTM, GRU and RNN layers: drop-ins for torch.nn's, with variants, lengths and gate recording.

Each class adds its equations (its `mode`, a step of `lstmkit.cells.STEPS`) and its switches
to the shared `RecurrentLayer`, which owns the parameters and hands the computation, as a
plain `LayerSpec`, to an engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from lstmkit.cells import LSTMVariant
from lstmkit.params import check_init, make_noise, reset_direction
from lstmkit.recurrent import RecurrentLayer, suffix

LSTM_ONLY = ("peephole", "cifg", "layer_norm", "forget_bias", "init", "t_max")


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
        checkpoint_every (0): bounded-memory training. k > 0 keeps only every k-th state
            of a training step and recomputes each k-step segment's gates in the backward
            pass (`lstmkit.engines.recompute`): the saved activations of a layer are
            O(T/k + k) instead of O(T) (k near sqrt(T) is the least), at the cost of one
            more forward pass; the gradients are the normal path's. Runs on the fused or
            autograd engine; inference and return_gates are unaffected.

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
        checkpoint_every: int = 0,
    ) -> None:
        check_init(init, t_max, forget_bias, bias)
        self.variant = LSTMVariant(bool(peephole), bool(cifg), bool(layer_norm))
        self.forget_bias, self.init, self.t_max = float(forget_bias), init, t_max
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size, device, dtype, num_gates=self.variant.num_gates,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=2), engine=engine,
            checkpoint_every=checkpoint_every,
        )  # fmt: skip
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                reset_direction(
                    self, suffix(layer, direction), self.hidden_size, variant=self.variant,
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
    (on h) and `weight_drop`, `engine` and `checkpoint_every`.

    >>> gru = GRU(8, 16, batch_first=True)
    >>> out, h = gru(torch.randn(4, 10, 8))
    >>> out.shape, h.shape
    (torch.Size([4, 10, 16]), torch.Size([1, 4, 16]))
    """

    mode = "GRU"
    state_names = ("h",)

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
        checkpoint_every: int = 0,
        **lstm_only: Any,
    ) -> None:
        reject_lstm_only("GRU", lstm_only)
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
            device, dtype, num_gates=3,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=1), engine=engine,
            checkpoint_every=checkpoint_every,
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
        checkpoint_every: int = 0,
        **lstm_only: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        reject_lstm_only("RNN", lstm_only)
        RecurrentLayer.__init__(
            self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype, num_gates=1,
            noise=make_noise(recurrent_dropout, zoneout, weight_drop, states=1), engine=engine,
            checkpoint_every=checkpoint_every,
        )  # fmt: skip
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self.reset_parameters()

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


def reject_lstm_only(name: str, options: dict[str, Any]) -> None:
    """A clear error for LSTM variants passed to a GRU or RNN, a TypeError for the rest."""
    for key in options:
        if key in LSTM_ONLY:
            raise ValueError(
                f"{name} has no option {key!r}: {', '.join(LSTM_ONLY)} are LSTM variants "
                "(they act on the LSTM's gates and cell); use lstmkit.LSTM for them"
            )
        raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")


__all__ = ["GRU", "LSTM", "RNN", "RecurrentLayer"]
