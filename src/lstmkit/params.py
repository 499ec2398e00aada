"""Parameter names, shapes, initialisation and the variant switches, shared by layers and cells.

Names and shapes are torch's (`weight_ih_l0`, `bias_hh_l1_reverse`, `weight_hr_l0`), so a
`state_dict` moves between lstmkit and torch unchanged. Variants add parameters after
torch's, with names of the same pattern:

    weight_ch{sfx}        (K*H,)  peephole diagonals for (i, f, o), or (i, o) under CIFG
    ln_gates_weight{sfx}  (G*H,)  layer-norm gain and bias of the gate pre-activations
    ln_gates_bias{sfx}    (G*H,)
    ln_cell_weight{sfx}   (H,)    layer-norm gain and bias of the cell before its tanh
    ln_cell_bias{sfx}     (H,)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lstmkit.cells import LSTMVariant

TORCH_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
INITS = ("default", "chrono")


@dataclass(frozen=True)
class Noise:
    """Training-time noise on the recurrence; every rate is in [0, 1) and 0 means off.

    recurrent_dropout: Gal & Ghahramani (2016), one mask per sequence on h_{t-1} before W_hh.
    zoneout: Krueger et al. (2017), one rate per state (h, and c for the LSTM): each unit keeps
        its previous value with that probability at each step; eval uses the expectation.
    weight_drop: Wan et al. (2013) DropConnect on W_hh, one mask per forward (Merity et al.
        2018, AWD-LSTM).
    """

    recurrent_dropout: float = 0.0
    zoneout: tuple[float, ...] = ()
    weight_drop: float = 0.0

    def recurrent_mask(self, like: Tensor) -> Tensor | None:
        """A scaled dropout mask for h_{t-1}, shaped like it; None when off."""
        if not self.recurrent_dropout:
            return None
        return _keep_mask(like, self.recurrent_dropout)

    def drop_weight(self, weight: Tensor) -> Tensor:
        """DropConnect: the recurrent weight with a fresh scaled mask; unchanged when off."""
        if not self.weight_drop:
            return weight
        return weight * _keep_mask(weight.detach(), self.weight_drop)

    def active(self, training: bool) -> bool:
        """Whether the step's math differs from the plain recurrence in this mode."""
        if any(self.zoneout):  # eval mode still mixes in the previous state
            return True
        return training and (self.recurrent_dropout > 0 or self.weight_drop > 0)


def _keep_mask(like: Tensor, rate: float) -> Tensor:
    """1 / (1 - rate) with probability 1 - rate, else 0, shaped like `like`.

    From uniform draws rather than torch.bernoulli or F.dropout: on the CPU those drew a
    512 x 128 mask in 0.55 ms against 0.22 ms (benchmarks/probes/machine.py).
    """
    return (torch.rand_like(like) >= rate).to(like.dtype) / (1 - rate)


def check_rate(name: str, value: float) -> float:
    """A dropout-like probability must lie in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}; 0 turns it off")
    return float(value)


def make_noise(
    recurrent_dropout: float, zoneout: float | tuple[float, float], weight_drop: float, states: int
) -> Noise:
    """Validate the noise switches; `zoneout` is one rate, or one per state (h, c)."""
    rates = zoneout if isinstance(zoneout, (tuple, list)) else (zoneout,) * states
    if len(rates) != states:
        raise ValueError(
            f"zoneout takes one rate or {states} rates (one per state), got {zoneout!r}"
        )
    return Noise(
        check_rate("recurrent_dropout", recurrent_dropout),
        tuple(check_rate("zoneout", z) for z in rates),
        check_rate("weight_drop", weight_drop),
    )


def register_direction(
    module: nn.Module,
    suffix: str,
    input_size: int,
    hidden_size: int,
    num_gates: int,
    *,
    bias: bool,
    proj_size: int = 0,
    variant: LSTMVariant | None = None,
    factory: dict | None = None,
) -> list[str]:
    """Create one direction's parameters on `module`; returns their names in torch's order."""
    factory = factory or {}
    out_size = proj_size or hidden_size
    shapes = {
        "weight_ih": (num_gates * hidden_size, input_size),
        "weight_hh": (num_gates * hidden_size, out_size),
    }
    if bias:
        shapes |= {"bias_ih": (num_gates * hidden_size,), "bias_hh": (num_gates * hidden_size,)}
    if proj_size:
        shapes["weight_hr"] = (proj_size, hidden_size)
    if variant is not None and variant.peephole:
        shapes["weight_ch"] = (variant.num_peepholes * hidden_size,)
    if variant is not None and variant.layer_norm:
        shapes |= {
            "ln_gates_weight": (num_gates * hidden_size,),
            "ln_gates_bias": (num_gates * hidden_size,),
            "ln_cell_weight": (hidden_size,),
            "ln_cell_bias": (hidden_size,),
        }
    for name, shape in shapes.items():
        module.register_parameter(name + suffix, nn.Parameter(torch.empty(shape, **factory)))
    return [name + suffix for name in shapes]


def reset_direction(
    module: nn.Module,
    suffix: str,
    hidden_size: int,
    *,
    variant: LSTMVariant | None = None,
    forget_bias: float = 0.0,
    init: str = "default",
    t_max: float | None = None,
) -> None:
    """torch's initialisation, U(-1/√H, 1/√H) for every weight, then the variants' choices."""
    bound = 1 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    with torch.no_grad():
        for field in (*TORCH_NAMES, "weight_ch"):
            p = getattr(module, field + suffix, None)
            if p is not None:
                p.uniform_(-bound, bound)
        for field, value in (
            ("ln_gates_weight", 1.0),
            ("ln_gates_bias", 0.0),
            ("ln_cell_weight", 1.0),
            ("ln_cell_bias", 0.0),
        ):
            p = getattr(module, field + suffix, None)
            if p is not None:
                p.fill_(value)
        b_ih = getattr(module, "bias_ih" + suffix, None)
        b_hh = getattr(module, "bias_hh" + suffix, None)
        if b_ih is not None and variant is not None:
            _init_gate_biases(b_ih, b_hh, hidden_size, variant, forget_bias, init, t_max)


def _init_gate_biases(
    b_ih: Tensor,
    b_hh: Tensor,
    hidden_size: int,
    variant: LSTMVariant,
    forget_bias: float,
    init: str,
    t_max: float | None,
) -> None:
    """Forget-gate bias and chrono initialisation, on the sum b_ih + b_hh of a gate.

    Under CIFG, f = 1 - σ(a_i) = σ(-a_i), so a forget bias enters the input gate negated.
    """
    H = hidden_size
    i_slice, f_slice = slice(0, H), slice(H, 2 * H)
    if init == "chrono":
        # Tallec & Ollivier (2018): b_f = log(U(1, T_max - 1)), b_i = -b_f; the forget gate then
        # remembers for times spread over [1, T_max].
        b_f = torch.log(torch.empty(H, dtype=b_ih.dtype).uniform_(1, t_max - 1)).to(b_ih.device)
        if variant.cifg:
            b_ih[i_slice] = -b_f
            b_hh[i_slice] = 0
        else:
            b_ih[f_slice], b_ih[i_slice] = b_f, -b_f
            b_hh[f_slice], b_hh[i_slice] = 0, 0
    if forget_bias:
        if variant.cifg:
            b_ih[i_slice] -= forget_bias
        else:
            b_ih[f_slice] += forget_bias


def check_init(init: str, t_max: float | None, forget_bias: float, bias: bool) -> None:
    """Validate the initialisation switches together."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if init == "chrono" and (t_max is None or t_max <= 2):
        raise ValueError(
            "init='chrono' needs t_max > 2, the longest time lag to remember in steps "
            f"(e.g. the sequence length), got t_max={t_max!r}"
        )
    if init != "chrono" and t_max is not None:
        raise ValueError("t_max is only used with init='chrono'")
    if not bias and (forget_bias or init == "chrono"):
        raise ValueError("forget_bias and init='chrono' set gate biases, so they need bias=True")
