"""The equations: one step of the LSTM (with its variants), the GRU and the Elman RNN.

Every step function takes the two affine projections that feed it, already computed:

    xw = W_ih x_t + b_ih        (B, G*H)   one GEMM over all steps, done by the engine
    hw = W_hh h_{t-1} + b_hh    (B, G*H)   one GEMM per step, done by the engine

so that what stays here is the gate math, written as in the papers. Splitting the
projections out is what lets an engine batch the input GEMM over time, and lets the time
loop apply recurrent dropout to h_{t-1} before the recurrent GEMM without the cell knowing.

A step returns the new state tuple and, when asked, a dict of the step's activations
(the gates' values) for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

State = tuple[Tensor, ...]
Record = dict[str, Tensor]

LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class LSTMVariant:
    """Switches that change the LSTM step's equations (see `lstmkit.LSTM` for each paper)."""

    peephole: bool = False
    cifg: bool = False
    layer_norm: bool = False

    @property
    def num_gates(self) -> int:
        """Gate groups in the weight matrices: (i, g, o) under CIFG, else (i, f, g, o)."""
        return 3 if self.cifg else 4

    @property
    def num_peepholes(self) -> int:
        """Diagonal peephole vectors: for (i, o) under CIFG, else for (i, f, o)."""
        return 2 if self.cifg else 3


class StepParams(NamedTuple):
    """The parameters one step reads beyond the two projections (None where unused)."""

    weight_hr: Tensor | None = None  # (P, H)    LSTMP projection
    weight_ch: Tensor | None = None  # (K*H,)    peephole diagonals, (i, f, o) or (i, o)
    ln_gates_weight: Tensor | None = None  # (G*H,)
    ln_gates_bias: Tensor | None = None  # (G*H,)
    ln_cell_weight: Tensor | None = None  # (H,)
    ln_cell_bias: Tensor | None = None  # (H,)


def _group_norm(a: Tensor, groups: int, weight: Tensor, bias: Tensor) -> Tensor:
    """Layer norm applied to each gate group's pre-activation separately (Ba et al. 2016)."""
    size = a.shape[-1] // groups
    a = F.layer_norm(a.unflatten(-1, (groups, size)), (size,), eps=LAYER_NORM_EPS)
    return a.flatten(-2) * weight + bias


def lstm_step(
    xw: Tensor,
    hw: Tensor,
    state: State,
    params: StepParams,
    variant: LSTMVariant,
    record: bool = False,
) -> tuple[State, Record | None]:
    """One LSTM step, torch's gate order (i, f, g, o).

    i = σ(a_i [+ w_ci ⊙ c_{t-1}]),  f = σ(a_f [+ w_cf ⊙ c_{t-1}])  or  f = 1 - i  (CIFG),
    g = tanh(a_g),  c_t = f ⊙ c_{t-1} + i ⊙ g,  o = σ(a_o [+ w_co ⊙ c_t]),
    h_t = o ⊙ tanh(c_t)  (or tanh(LN(c_t)) with layer norm),  h_t ← W_hr h_t  (projection),
    where a = xw + hw, layer-normalised per gate group when `variant.layer_norm`.
    """
    _, c = state
    a = xw + hw  # (B, G*H)
    if variant.layer_norm:
        a = _group_norm(a, variant.num_gates, params.ln_gates_weight, params.ln_gates_bias)
    if variant.cifg:
        a_i, a_g, a_o = a.chunk(3, -1)
        a_f = None
    else:
        a_i, a_f, a_g, a_o = a.chunk(4, -1)
    if variant.peephole:
        w_ci, *w_cf, w_co = params.weight_ch.chunk(variant.num_peepholes)
        a_i = a_i + w_ci * c
        if a_f is not None:
            a_f = a_f + w_cf[0] * c
    i = torch.sigmoid(a_i)
    f = 1 - i if a_f is None else torch.sigmoid(a_f)
    g = torch.tanh(a_g)
    c_new = f * c + i * g
    if variant.peephole:
        a_o = a_o + w_co * c_new  # the output gate peeks at the new cell
    o = torch.sigmoid(a_o)
    c_shown = c_new
    if variant.layer_norm:
        # Only the cell's read-out is normalised; the carried cell state stays raw.
        c_shown = F.layer_norm(
            c_new, c_new.shape[-1:], params.ln_cell_weight, params.ln_cell_bias, LAYER_NORM_EPS
        )
    h = o * torch.tanh(c_shown)
    if params.weight_hr is not None:
        h = h @ params.weight_hr.T  # (B, P)
    gates = dict(i=i, f=f, g=g, o=o, c=c_new, h=h) if record else None
    return (h, c_new), gates


def gru_step(
    xw: Tensor, hw: Tensor, state: State, params: StepParams, variant: None, record: bool = False
) -> tuple[State, Record | None]:
    """One GRU step, torch's gate order (r, z, n) and torch's placement of b_hn:

    r = σ(a_r),  z = σ(a_z),  n = tanh(xw_n + r ⊙ (W_hn h_{t-1} + b_hn)),
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}.
    """
    (h,) = state
    x_r, x_z, x_n = xw.chunk(3, -1)
    h_r, h_z, h_n = hw.chunk(3, -1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h_new = (1 - z) * n + z * h
    gates = dict(r=r, z=z, n=n, h=h_new) if record else None
    return (h_new,), gates


def rnn_tanh_step(
    xw: Tensor, hw: Tensor, state: State, params: StepParams, variant: None, record: bool = False
) -> tuple[State, Record | None]:
    """One Elman step: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    h = torch.tanh(xw + hw)
    return (h,), (dict(h=h) if record else None)


def rnn_relu_step(
    xw: Tensor, hw: Tensor, state: State, params: StepParams, variant: None, record: bool = False
) -> tuple[State, Record | None]:
    """One Elman step with ReLU: h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    h = torch.relu(xw + hw)
    return (h,), (dict(h=h) if record else None)


# torch's kernel name of each cell -> its step, and the states the step carries.
STEPS = {"LSTM": lstm_step, "GRU": gru_step, "RNN_TANH": rnn_tanh_step, "RNN_RELU": rnn_relu_step}
STATE_NAMES = {"LSTM": ("h", "c"), "GRU": ("h",), "RNN_TANH": ("h",), "RNN_RELU": ("h",)}


def zoneout(new: State, old: State, rates: tuple[float, ...], training: bool) -> State:
    """Zoneout (Krueger et al. 2017): each unit keeps its previous value with probability z.

    Training draws a fresh Bernoulli mask per step and unit; eval uses the expectation
    z ⊙ old + (1 - z) ⊙ new, as the paper does.
    """
    mixed = []
    for n, o, z in zip(new, old, rates):
        if not z:
            mixed.append(n)
        elif training:
            keep = torch.rand_like(n) < z
            mixed.append(torch.where(keep, o, n))
        else:
            mixed.append(z * o + (1 - z) * n)
    return tuple(mixed)
