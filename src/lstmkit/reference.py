"""The LSTM as a NumPy textbook: each forward step beside its hand-written backward (BPTT).

Symbols follow the papers, names follow torch. For layer k, with ``H = hidden_size``:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh     pre-activations, blocks in gate order
    i_t = σ(a_i + w_ci ⊙ c_{t-1})                   input gate (peephole term optional)
    f_t = σ(a_f + w_cf ⊙ c_{t-1})                   forget gate; under CIFG f_t = 1 - i_t
    g_t = tanh(a_g)                                 candidate cell
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    o_t = σ(a_o + w_co ⊙ c_t)                       output gate peeks at the NEW cell
    h_t = o_t ⊙ tanh(c_t)

Parameters are a dict of arrays with torch's names: ``weight_ih_l{k}`` (G*H, I_k),
``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), each bias
optional. The gate blocks are (i, f, g, o), G = 4, or (i, g, o), G = 3, with ``cifg``
(coupled input-forget gate, Greff et al. 2017). With ``peephole`` (Gers & Schmidhuber
2000), ``weight_ch_l{k}`` (P*H,) holds the diagonal weights (w_ci, w_cf, w_co), P = 3,
or (w_ci, w_co), P = 2, under CIFG. Inputs are time-major: x is (T, B, I).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """Logistic function that never overflows: exp only ever sees -|z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass
class LayerParams:
    """One layer's parameters. Absent biases and peepholes are zeros, so one set of
    equations serves every variant; ``peephole`` says whether w_c* are real parameters."""

    W_ih: Array  # (G*H, I)
    W_hh: Array  # (G*H, H)
    b: Array  # (G*H,) = b_ih + b_hh
    w_ci: Array  # (H,) peephole from c_{t-1} into i
    w_cf: Array  # (H,) peephole from c_{t-1} into f; zeros under CIFG (there is no f gate)
    w_co: Array  # (H,) peephole from c_t into o
    peephole: bool
    cifg: bool


def init_params(
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    peephole: bool = False,
    cifg: bool = False,
    seed: int = 0,
    dtype: type = np.float64,
) -> dict[str, Array]:
    """Random parameters drawn like torch: every entry uniform in ±1/sqrt(hidden_size).

    Args:
        input_size: features of x (I).
        hidden_size: units per layer (H).
        num_layers: stacked layers; layer k > 0 reads the H outputs of layer k - 1.
        bias: include ``bias_ih_l{k}`` and ``bias_hh_l{k}``.
        peephole: include ``weight_ch_l{k}``.
        cifg: three gate blocks (i, g, o) instead of four.
        seed: seed of the NumPy generator.
        dtype: floating dtype of every array.

    Returns:
        Parameter dict keyed by torch's names.
    """
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
    rng = np.random.default_rng(seed)
    G, P = (3, 2) if cifg else (4, 3)
    bound = 1.0 / np.sqrt(hidden_size)
    shapes: dict[str, tuple[int, ...]] = {}
    for k in range(num_layers):
        shapes[f"weight_ih_l{k}"] = (G * hidden_size, input_size if k == 0 else hidden_size)
        shapes[f"weight_hh_l{k}"] = (G * hidden_size, hidden_size)
        if bias:
            shapes[f"bias_ih_l{k}"] = shapes[f"bias_hh_l{k}"] = (G * hidden_size,)
        if peephole:
            shapes[f"weight_ch_l{k}"] = (P * hidden_size,)
    return {n: rng.uniform(-bound, bound, s).astype(dtype) for n, s in shapes.items()}


# ---- one step forward, and its derivative right beside it -------------------------------


def step_forward(p: LayerParams, x: Array, h: Array, c: Array) -> tuple[Array, Array, tuple]:
    """One time step. x (B, I), h and c (B, H) -> new h, new c, and what backward needs."""
    a = x @ p.W_ih.T + h @ p.W_hh.T + p.b  # (B, G*H)
    if p.cifg:
        a_i, a_g, a_o = np.split(a, 3, axis=1)
        i = sigmoid(a_i + p.w_ci * c)
        f = 1.0 - i  # CIFG: f_t = 1 - i_t
    else:
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i = sigmoid(a_i + p.w_ci * c)  # i and f peek at c_{t-1}
        f = sigmoid(a_f + p.w_cf * c)
    g = np.tanh(a_g)
    c_new = f * c + i * g  # c_t = f ⊙ c_{t-1} + i ⊙ g
    o = sigmoid(a_o + p.w_co * c_new)  # o peeks at the new c_t
    tc = np.tanh(c_new)
    h_new = o * tc  # h_t = o ⊙ tanh(c_t)
    return h_new, c_new, (x, h, c, i, f, g, o, c_new, tc)


def step_backward(
    p: LayerParams, dh: Array, dc: Array, cache: tuple
) -> tuple[Array, Array, Array, dict[str, Array]]:
    """Backward of ``step_forward``: given dL/dh_t and dL/dc_t (carried from t + 1),
    return dL/dx_t, dL/dh_{t-1}, dL/dc_{t-1} and this step's parameter gradients."""
    x, h, c, i, f, g, o, c_new, tc = cache
    da_o = dh * tc * o * (1.0 - o)  # h = o ⊙ tanh(c_t), σ' = σ(1 - σ)
    dc = dc + dh * o * (1.0 - tc**2) + da_o * p.w_co  # c_t feeds h and, by peephole, o
    di, dg, df = dc * g, dc * i, dc * c  # c_t = f ⊙ c_{t-1} + i ⊙ g
    da_g = dg * (1.0 - g**2)  # tanh' = 1 - tanh²
    if p.cifg:
        da_i = (di - df) * i * (1.0 - i)  # f = 1 - i, so i also receives -df
        da_f = np.zeros_like(da_i)
        da = np.concatenate([da_i, da_g, da_o], axis=1)  # (B, 3H)
    else:
        da_i, da_f = di * i * (1.0 - i), df * f * (1.0 - f)
        da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)  # (B, 4H)
    dc_prev = dc * f + da_i * p.w_ci + da_f * p.w_cf  # c_{t-1} feeds c_t, and i, f by peephole
    grads = {"W_ih": da.T @ x, "W_hh": da.T @ h, "b": da.sum(axis=0)}  # a = W_ih x + W_hh h + b
    if p.peephole:
        peeps = [(da_i * c).sum(0), (da_o * c_new).sum(0)]  # w_ci ⊙ c_{t-1}, w_co ⊙ c_t
        if not p.cifg:
            peeps.insert(1, (da_f * c).sum(0))  # w_cf ⊙ c_{t-1}
        grads["w_ch"] = np.concatenate(peeps)
    return da @ p.W_ih, da @ p.W_hh, dc_prev, grads


# ---- a layer over time, and back through time --------------------------------------------


def layer_forward(
    p: LayerParams, x: Array, h: Array, c: Array
) -> tuple[Array, Array, Array, list[tuple]]:
    """Run one layer over x (T, B, I) from state (h, c) -> out (T, B, H), h_T, c_T, caches."""
    outs, caches = [], []
    for x_t in x:
        h, c, cache = step_forward(p, x_t, h, c)
        outs.append(h)
        caches.append(cache)
    return np.stack(outs), h, c, caches


def layer_backward(
    p: LayerParams, caches: list[tuple], d_out: Array, dh: Array, dc: Array, truncate: int
) -> tuple[Array, Array, Array, dict[str, Array]]:
    """BPTT over one layer: walk the steps from last to first, summing parameter gradients.

    The carry (dh, dc) is zeroed where it would cross from step T - truncate into step
    T - truncate - 1, as if h and c were detached there.
    """
    T = len(caches)
    dx = np.zeros((T, *caches[0][0].shape), dtype=d_out.dtype)
    total: dict[str, Array] = {}
    for t in reversed(range(T)):
        if t == T - truncate - 1:
            dh, dc = np.zeros_like(dh), np.zeros_like(dc)  # the truncation cut
        dx[t], dh, dc, grads = step_backward(p, dh + d_out[t], dc, caches[t])
        for name, grad in grads.items():
            total[name] = total[name] + grad if name in total else grad
    return dx, dh, dc, total


# ---- stacked layers: the public forward and backward --------------------------------------


@dataclass
class Cache:
    """What ``forward`` keeps for ``backward``: every step's cache, per layer."""

    steps: list[list[tuple]]  # [layer][t] -> step_forward's cache
    x_shape: tuple[int, int, int]  # (T, B, I)
    dtype: np.dtype
    peephole: bool
    cifg: bool


def forward(
    params: dict[str, Array],
    x: Array,
    h0: Array | None = None,
    c0: Array | None = None,
    *,
    peephole: bool = False,
    cifg: bool = False,
) -> tuple[Array, Array, Array, Cache]:
    """Run the stacked LSTM over a sequence.

    Args:
        params: torch-named arrays (see the module docstring); biases may be absent.
        x: input, (T, B, I), time-major, floating point.
        h0: initial hidden state, (num_layers, B, H); zeros if None.
        c0: initial cell state, (num_layers, B, H); zeros if None.
        peephole: the gates see the cell through ``weight_ch_l{k}``.
        cifg: coupled input-forget gate, f = 1 - i, three gate blocks.

    Returns:
        out (T, B, H) from the last layer, h_n and c_n (num_layers, B, H), and the cache
        that ``backward`` needs.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 3 or x.shape[0] * x.shape[1] == 0:
        got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x must be a non-empty array of shape (T, B, I), got {got}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x has dtype {x.dtype}; pass floats, e.g. x.astype(np.float64)")
    layers = _layers(params, x.shape[2], peephole, cifg)
    L, B, H = len(layers), x.shape[1], layers[0].W_hh.shape[1]
    h0 = _state("h0", h0, (L, B, H), x.dtype)
    c0 = _state("c0", c0, (L, B, H), x.dtype)
    h_n, c_n, steps = [], [], []
    out = x
    for k, p in enumerate(layers):
        out, h, c, caches = layer_forward(p, out, h0[k], c0[k])  # layer k reads layer k-1
        h_n.append(h)
        c_n.append(c)
        steps.append(caches)
    cache = Cache(steps, x.shape, out.dtype, peephole, cifg)
    return out, np.stack(h_n), np.stack(c_n), cache


def backward(
    params: dict[str, Array],
    cache: Cache,
    d_out: Array,
    d_h_n: Array | None = None,
    d_c_n: Array | None = None,
    *,
    truncate: int | None = None,
) -> dict[str, Array]:
    """Back-propagation through time for ``forward``, every gradient by hand.

    ``truncate=k`` is truncated BPTT at a chunk boundary: in every layer, the recurrent
    carry dL/dh, dL/dc is cut between step T-k-1 and step T-k, exactly as if h and c were
    detached on entering step T-k. Gradients arriving at the last k steps (their d_out,
    d_h_n, d_c_n) flow back at most k steps; the first T-k steps still back-propagate their
    own d_out among themselves and into h0, c0. Layers stay connected at every step.

    Args:
        params: the same dict given to ``forward``.
        cache: the cache ``forward`` returned.
        d_out: dL/d out, (T, B, H).
        d_h_n: dL/d h_n, (num_layers, B, H); zeros if None.
        d_c_n: dL/d c_n, (num_layers, B, H); zeros if None.
        truncate: steps the gradient may travel back from the end; None (or >= T) for
            full BPTT.

    Returns:
        A gradient for every key of ``params``, plus "x", "h0" and "c0".
    """
    if not isinstance(cache, Cache):
        raise TypeError(f"cache must be the Cache returned by forward, got {type(cache).__name__}")
    if truncate is not None and (
        isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1
    ):
        raise ValueError(f"truncate must be a positive int or None, got {truncate!r}")
    (T, B, n_in), dtype = cache.x_shape, cache.dtype
    layers = _layers(params, n_in, cache.peephole, cache.cifg)
    L, H = len(layers), layers[0].W_hh.shape[1]
    d = _state("d_out", d_out, (T, B, H), dtype)
    d_h_n = _state("d_h_n", d_h_n, (L, B, H), dtype)
    d_c_n = _state("d_c_n", d_c_n, (L, B, H), dtype)
    grads: dict[str, Array] = {}
    dh0, dc0 = [None] * L, [None] * L
    for k in reversed(range(L)):  # layer k's dx is layer k-1's d_out
        d, dh0[k], dc0[k], g = layer_backward(
            layers[k], cache.steps[k], d, d_h_n[k], d_c_n[k], truncate or T
        )
        grads[f"weight_ih_l{k}"], grads[f"weight_hh_l{k}"] = g["W_ih"], g["W_hh"]
        for name in (f"bias_ih_l{k}", f"bias_hh_l{k}"):
            if name in params:
                grads[name] = g["b"].copy()  # both biases add straight into a
        if "w_ch" in g:
            grads[f"weight_ch_l{k}"] = g["w_ch"]
    grads.update(x=d, h0=np.stack(dh0), c0=np.stack(dc0))
    return grads


# ---- input checks, in one place -----------------------------------------------------------

_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_ch)_l(\d+)")


def _layers(
    params: dict[str, Array], input_size: int, peephole: bool, cifg: bool
) -> list[LayerParams]:
    """Check ``params`` against torch's names and shapes, then gather them per layer."""
    num_layers, H = _check_params(params, input_size, peephole, cifg)
    layers = []
    for k in range(num_layers):
        W_ih, W_hh = params[f"weight_ih_l{k}"], params[f"weight_hh_l{k}"]
        b = sum(params.get(n, 0.0) for n in (f"bias_ih_l{k}", f"bias_hh_l{k}"))
        w = params[f"weight_ch_l{k}"] if peephole else np.zeros((2 if cifg else 3) * H, W_hh.dtype)
        w_ci, w_cf, w_co = np.split(w, 3) if not cifg else (w[:H], np.zeros_like(w[:H]), w[H:])
        layers.append(LayerParams(W_ih, W_hh, b, w_ci, w_cf, w_co, peephole, cifg))
    return layers


def _check_params(
    params: dict[str, Array], input_size: int, peephole: bool, cifg: bool
) -> tuple[int, int]:
    """Raise a clear error for a wrong name, type or shape; return (num_layers, H)."""
    if not isinstance(params, dict) or "weight_hh_l0" not in params:
        raise ValueError("params must be a dict with torch's names, e.g. 'weight_hh_l0'")
    for name, arr in params.items():
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"params[{name!r}] is a {type(arr).__name__}; pass NumPy arrays, e.g. "
                "{k: v.detach().numpy() for k, v in module.state_dict().items()}"
            )
        match = _NAME.fullmatch(name)
        if match is None or (match[1] == "weight_ch" and not peephole):
            hint = "; pass peephole=True" if match else "; expected names like 'weight_ih_l0'"
            raise ValueError(f"params has unexpected {name!r}{hint}")
    num_layers = 1 + max(int(_NAME.fullmatch(name)[2]) for name in params)
    G, P = (3, 2) if cifg else (4, 3)
    H = params["weight_hh_l0"].shape[-1]
    for k in range(num_layers):
        expect = {
            "weight_ih": (G * H, input_size if k == 0 else H),
            "weight_hh": (G * H, H),
            "bias_ih": (G * H,),
            "bias_hh": (G * H,),
            "weight_ch": (P * H,),
        }
        for base, shape in expect.items():
            name = f"{base}_l{k}"
            required = base in ("weight_ih", "weight_hh") or (base == "weight_ch" and peephole)
            if name not in params and required:
                raise ValueError(f"params is missing {name!r} (layer {k} of {num_layers} layers)")
            if name in params and params[name].shape != shape:
                raise ValueError(_shape_message(name, params[name].shape, shape, cifg))
    return num_layers, H


def _shape_message(name: str, got: tuple, expected: tuple, cifg: bool) -> str:
    """Blame x when layer 0's weights disagree only with x's feature count."""
    if name == "weight_ih_l0" and got[0] == expected[0]:
        return (
            f"x has {expected[1]} features (x.shape[2]) but {name} of shape {got} expects {got[1]}"
        )
    if name.startswith("weight_ch"):
        parts = "2 peephole vectors (i, o)" if cifg else "3 peephole vectors (i, f, o)"
    else:
        parts = "3 gate blocks (i, g, o)" if cifg else "4 gate blocks (i, f, g, o)"
    return f"{name} has shape {got} but expected {expected}: cifg={cifg} means {parts}"


def _state(name: str, arr: Array | None, shape: tuple[int, ...], dtype: np.dtype) -> Array:
    """Zeros when ``arr`` is None, else ``arr`` checked against ``shape``."""
    if arr is None:
        return np.zeros(shape, dtype=dtype)
    if not isinstance(arr, np.ndarray) or arr.shape != shape:
        got = f"shape {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise ValueError(f"{name} must have shape {shape}, got {got}")
    return arr
