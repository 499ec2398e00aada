"""What LSTM, GRU and RNN share: torch-named parameters, input checks, engine dispatch.

A layer checks its input once (`lstmkit.sequences`), describes itself as a plain
`LayerSpec` (`spec`, the one place it is built from a module, cells included), hands the
engine that `lstmkit.engines.select` picks the spec and a canonical (T, B, I) batch, and
gives the results back in the caller's layout.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from lstmkit.cells import LSTMVariant, StepParams
from lstmkit.engines import DirectionWeights, LayerSpec
from lstmkit.engines.precision import storage_dtype
from lstmkit.engines.select import check_engine_name, engine_for
from lstmkit.params import TORCH_NAMES, Noise, register_direction, reset_direction
from lstmkit.sequences import Canonical, canonicalize

# The parameter names of one direction, in DirectionWeights order (then StepParams').
WEIGHT_FIELDS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", *StepParams._fields)


class RecurrentLayer(nn.Module):
    """What LSTM, GRU and RNN share: parameters, input checks, engine dispatch.

    Subclasses set `mode` (torch's name for the kernel: "LSTM", "GRU", "RNN_TANH" or
    "RNN_RELU"; its step is `lstmkit.cells.STEPS[mode]`), `num_gates` and `state_names`.
    """

    mode: ClassVar[str]
    state_names: ClassVar[tuple[str, ...]]
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
        checkpoint_every: int = 0,
    ) -> None:
        super().__init__()
        check_sizes(input_size, hidden_size, num_layers, proj_size, dropout)
        check_checkpoint_every(checkpoint_every)
        for flag, value in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(value, bool):  # torch.nn refuses 0/1 and 'True' too
                raise TypeError(f"{flag} should be of type bool, got: {type(value).__name__}")
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
        self.checkpoint_every = checkpoint_every
        self._flat_weights_names: list[str] = []
        self._weight_names: list[tuple[str | None, ...]] = []  # per direction, WEIGHT_FIELDS
        factory = {"device": device, "dtype": dtype}
        out_size = proj_size or hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = suffix(layer, direction)
                names = register_direction(
                    self, sfx, layer_input, hidden_size, num_gates,
                    bias=bias, proj_size=proj_size, variant=self.variant, factory=factory,
                )  # fmt: skip
                self._flat_weights_names += [n for n in names if n.split("_l")[0] in TORCH_NAMES]
                self._weight_names.append(weight_names(names, sfx))

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

    def spec(self) -> LayerSpec:
        """The layer as the engines see it: its switches, mode and current weights."""
        return layer_spec(self)

    def reset_parameters(self) -> None:
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                reset_direction(self, suffix(layer, direction), self.hidden_size)

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
        spec = layer_spec(self)
        seq = canonicalize(
            input, input_size=self.input_size, dtype=spec.weights[0].weight_ih.dtype,
            batch_first=self.batch_first, lengths=lengths, name=type(self).__name__,
        )  # fmt: skip
        states = self._initial_states(hx, seq)
        engine = engine_for(spec, seq.x, record, seq.lengths)
        output, finals, gates = engine.run(spec, seq.x, seq.lengths, states, record)
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
        # under CPU autocast the layer returns bfloat16 states: a stateful loop feeds them back
        allowed = {x.dtype, storage_dtype(x)}
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
            if state.dtype not in allowed:
                raise TypeError(
                    f"{name}: {state_name}_0 has dtype {state.dtype} but the input has {x.dtype}"
                )
            states.append(state.unsqueeze(1) if seq.unbatched else state)
        return tuple(states)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = dict(num_layers=1, bias=True, batch_first=False, dropout=0.0,
                        bidirectional=False, proj_size=0, engine="auto",
                        checkpoint_every=0)  # fmt: skip
        for key, default in defaults.items():
            if getattr(self, key) != default:
                text += f", {key}={getattr(self, key)!r}"
        return text


def suffix(layer: int, direction: int) -> str:
    return f"_l{layer}" + ("_reverse" if direction else "")


def weight_names(registered: list[str], sfx: str) -> tuple[str | None, ...]:
    """One direction's parameter names in WEIGHT_FIELDS order, None for those it lacks."""
    return tuple(f + sfx if f + sfx in registered else None for f in WEIGHT_FIELDS)


def layer_spec(module: nn.Module) -> LayerSpec:
    """The one place a `LayerSpec` is built from a module (a layer, or a cell as a one-layer,
    one-direction layer): its attributes, mode (train/eval) and current weights."""
    m = module
    return LayerSpec(
        m.mode, m.input_size, m.hidden_size, m.proj_size, m.num_layers, m.num_directions,
        m.num_gates, m.bias, m.dropout, m.variant, m.noise, m.engine, m.training,
        current_weights(m, m._weight_names), m.checkpoint_every,
    )  # fmt: skip


def current_weights(
    module: nn.Module, names: list[tuple[str | None, ...]]
) -> tuple[DirectionWeights, ...]:
    """The tensors behind `names` (per direction) as they are now.

    Looked up at every call, not kept: `.to()`, `load_state_dict`, torch.func's
    functional_call or a user's assignment may have replaced them. `_parameters` first
    (a dict lookup), `getattr` for anything held elsewhere (a parametrization, a plain
    tensor attribute).
    """
    params = module._parameters
    found = []
    for direction in names:
        t = [
            None if n is None else params[n] if n in params else getattr(module, n)
            for n in direction
        ]
        found.append(DirectionWeights(t[0], t[1], t[2], t[3], StepParams._make(t[4:])))
    return tuple(found)


def check_sizes(
    input_size: int, hidden_size: int, num_layers: int, proj_size: int, dropout: float
) -> None:
    """torch.nn's argument checks, with messages that name the value received."""
    minimums = {"input_size": (input_size, 1), "hidden_size": (hidden_size, 1),
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
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, numbers.Number)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(f"dropout should be a number in range [0, 1], got {dropout!r}")


def check_checkpoint_every(k: int) -> None:
    """checkpoint_every is a step count: an integer >= 0 (0: off)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(
            f"checkpoint_every must be an integer >= 0 (steps per recomputed segment, 0: off), "
            f"got {k!r}"
        )
