"""One recurrent layer (every direction) as an autograd Function over the fused C kernels.

Forward: the input projections of all steps and both directions are one GEMM into xw
(T, B, D*G*H); the kernel steps through time from it, writing each direction's outputs
into its columns of out (T, B, D*P), and, when a backward pass will follow, the gate
activations in place of xw plus the few buffers below. Backward: the kernel runs the
hand-written BPTT into d(xw); then every weight gradient is one GEMM over all steps:
LSTM d([W_ih, U]) = d(a)^T hin with hin = [x, h * mask] (one pass over d(a), not two);
GRU/RNN d(W_ih) = d(xw)^T x, d(U) = d(a)^T hin; d(x) = d(xw) W_ih, d(W_hr) = dh^T m.

Buffers per direction, (T, B, n) in natural time order unless stated (see kernels/common.h):

    all    xw (shared, D*G*H)   input projections in, activations out; dxw alike
           hin                  the step GEMM's input: LSTM [x_t, h_{t-1} * mask] (I+P),
                                GRU/RNN h_{t-1} * mask (H); for the weight gradients
    LSTM   cseq (T+1, B, H)     the carried cell, processing order; cnew (H) under zoneout
           lnhat (G*H), lnrstd (G), cnhat (H), cnrstd (1)    layer norms
           dhnew (P), mbuf (H)  backward, projection only: d(W_hr) = sum dh^T m
    GRU    hn (H) U_n h + b_hn; hprev (H) under recurrent dropout; dhw (3H) d(U h + b_hh)

Steps past a sequence's length leave zeros in hin, d(xw), dhnew and mbuf, so the GEMMs
over all steps add nothing for them. Large buffers come from the reusable workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from lstmkit.engines.fused_build import RecArgs, kernel, matmul
from lstmkit.engines.fused_memory import WORKSPACE

CELLS = {"LSTM": 0, "GRU": 1, "RNN_TANH": 2, "RNN_RELU": 3}
# Per-direction tensors, in this order (None where absent).
FIELDS = (
    "weight_ih", "bias_ih", "weight_hh", "bias_hh", "whr", "wch", "lng", "lnb", "lncg", "lncb",
)  # fmt: skip
PARAM_GRADS = {"wch": "dwch", "lng": "dlng", "lnb": "dlnb", "lncg": "dlncg", "lncb": "dlncb"}


@dataclass(frozen=True)
class Config:
    """What a layer call needs beyond tensors."""

    mode: str  # "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
    hidden: int  # H
    out: int  # P: proj_size or H
    gates: int  # G
    directions: int  # D
    cifg: bool = False
    zoneout_eval: tuple[float, float] = (0.0, 0.0)  # rates mixed in eval mode, (h, c)
    threads: int = 1  # per direction
    concurrent: bool = False  # the directions run at once on separate threads
    units: bool = False  # threads split the hidden units (small batches), not the rows
    # The bfloat16 kernel's entries by direction (engines/bf16_kernel.py: "forward", and
    # "backward" unless a test leaves it out), or None. They read the step products'
    # operands rounded to bfloat16 (U; the LSTM's x and W_ih too) and write float32; without
    # a "backward" entry the float32 backward runs.
    bf16: dict[str, Callable[..., None]] | None = field(default=None, compare=False)

    @property
    def family(self) -> str:
        return "lstm" if self.mode == "LSTM" else "gru"


def layer(
    cfg: Config,
    lengths: Tensor | None,
    masks: tuple[tuple[Tensor | None, ...], ...],
    x: Tensor,
    hx: tuple[Tensor, ...],
    weights: tuple[tuple[Tensor | None, ...], ...],
) -> tuple[Tensor, ...]:
    """Run one layer: (out (T,B,D*P), h_T (D,B,P)[, c_T (D,B,H)]).

    Args:
        cfg: sizes and switches; lengths: (B,) int64 or None.
        masks: per direction, the recurrent-dropout mask (B,P) and the zoneout keep-masks
            (T,B,P) and (for the LSTM) (T,B,H), each None when off.
        x: (T,B,I) the layer's input; hx: (h0 (D,B,P)[, c0 (D,B,H)]).
        weights: per direction, the tensors named by FIELDS (weight_hh after weight drop).
    Returns:
        The output and the final states.
    """
    flat = [t for direction in weights for t in direction]
    tensors = (x, *hx, *flat)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return LayerFunction.apply(cfg, lengths, masks, len(hx), *tensors)
    return _forward(cfg, lengths, masks, x, hx, weights, save=False)[0]


MASKS = ("rmask", "zmh", "zmc")
# Kernel field of each per-direction tensor and mask (biases: _input_bias, _recurrent_bias).
KERNEL_NAMES = dict(
    weight_hh="U", whr="whr", wch="wch", lng="lng", lnb="lnb", lncg="lncg", lncb="lncb",
    rmask="rmask", zmh="zmh", zmc="zmc",
)  # fmt: skip


def _pointers(tensors: dict[str, Tensor | tuple[Tensor | None, int] | None]) -> dict[str, int]:
    """Kernel fields -> addresses of tensors, or of (tensor, element offset). Absent (None)
    tensors are left out: the fields they would set stay NULL. The caller keeps the tensors
    alive over the kernel call."""
    out = {}
    for name, value in tensors.items():
        t, offset = value if type(value) is tuple else (value, 0)
        if t is not None:
            out[name] = t.data_ptr() + offset * t.itemsize
    return out


def _run(cfg: Config, dtype: torch.dtype, direction: str, args: list[RecArgs]) -> None:
    array = (RecArgs * len(args))(*args)
    run = (cfg.bf16 or {}).get(direction) or kernel(cfg.family, dtype, direction)
    run(array, len(args), int(cfg.concurrent))


def _args(cfg: Config, x: Tensor, d: int, save: bool, pointers: dict[str, int]) -> RecArgs:
    steps, batch, size = x.shape
    return RecArgs(
        cell=CELLS[cfg.mode], T=steps, B=batch, H=cfg.hidden, P=cfg.out, G=cfg.gates,
        I=size if cfg.mode == "LSTM" else 0, cifg=int(cfg.cifg), reverse=d,
        nthreads=cfg.threads, save=int(save), units=int(cfg.units),
        xw_rs=cfg.directions * cfg.gates * cfg.hidden, out_rs=cfg.directions * cfg.out,
        zh=cfg.zoneout_eval[0], zc=cfg.zoneout_eval[1], **pointers,
    )  # fmt: skip


def _matmul(
    cfg: Config,
    out: Tensor,
    a: Tensor,
    b: Tensor,
    trans_a: bool = False,
    bias: Tensor | None = None,
) -> Tensor:
    """out = op(a) @ b (+ bias) by the kernels' GEMM (kernels/matmul.h says why not torch.mm).

    out and a are 2-D with unit column stride (a is K x M when trans_a); b has any strides.
    """
    M, N = out.shape
    K = a.shape[0] if trans_a else a.shape[1]
    if a.stride(1) != 1:
        a = a.contiguous()
    matmul(cfg.family, out.dtype)(
        int(trans_a), M, N, K, a.data_ptr(), a.stride(0), b.data_ptr(), b.stride(0),
        b.stride(1), None if bias is None else bias.data_ptr(), out.data_ptr(), out.stride(0), 0,
        torch.get_num_threads(),
    )  # fmt: skip
    return out


def _cat(tensors: list[Tensor | None]) -> Tensor | None:
    if tensors[0] is None:
        return None
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _forward(cfg, lengths, masks, x, hx, weights, save):
    steps, batch, size = x.shape
    D, P, GH = cfg.directions, cfg.out, cfg.gates * cfg.hidden
    ws = [{k: (None if t is None else t.contiguous()) for k, t in zip(FIELDS, w)} for w in weights]
    biases = [_input_bias(cfg, w) for w in ws]
    lstm = cfg.mode == "LSTM"
    w_ih = _cat([w["weight_ih"] for w in ws]) if save or not lstm else None
    dtype = torch.float32 if cfg.bf16 else x.dtype  # what every buffer holds
    xw = None
    if save or not lstm:  # LSTM: the activations; GRU/RNN: first the input projections
        xw = WORKSPACE.empty(steps, batch, D * GH, dtype=dtype)
    if lstm:  # the kernel projects x_t with h in one GEMM per step: xw never round-trips
        x = _operand(cfg, x)
    else:  # one GEMM for every step and both directions
        _matmul(cfg, xw.view(-1, D * GH), x.reshape(-1, size), w_ih.T, bias=_cat(biases))
    out = WORKSPACE.empty(steps, batch, D * P, dtype=dtype)
    finals = tuple(x.new_empty(D, batch, s.shape[-1], dtype=dtype) for s in hx)
    lengths = None if lengths is None else lengths.contiguous()
    hx = tuple(s.contiguous() for s in hx)
    args, directions, keep = [], [], []  # keep: what the kernel reads lives over the call
    for d, w in enumerate(ws):
        m = {k: (None if t is None else t.contiguous()) for k, t in zip(MASKS, masks[d])}
        static = {KERNEL_NAMES[k]: t for k, t in (w | m).items() if k in KERNEL_NAMES}
        static |= {"lengths": lengths, "bhh": _recurrent_bias(cfg, w, x)}
        u = _operand(cfg, w["weight_hh"])
        if "backward" in (cfg.bf16 or {}):  # its product reads U so too: rounded once, here
            static["U"] = u
        buffers = _buffers(cfg, x, w, m, dtype) if save else {}
        tensors = static | buffers | {"xw": (xw, d * GH), "out": (out, d * P), "U": u}
        if lstm:
            tensors |= {"x": x, "wih": _operand(cfg, w["weight_ih"]), "bias": biases[d]}
        for name, s, f in zip(("h", "c"), hx, finals):
            tensors |= {name + "0": (s, d * s[0].numel()), name + "T": (f, d * f[0].numel())}
        args.append(_args(cfg, x, d, save, _pointers(tensors)))
        directions.append(dict(w=w, static=static, buffers=buffers))
        keep.append(tensors)
    _run(cfg, dtype, "forward", args)
    del keep
    return (out, *finals), dict(xw=xw, w_ih=w_ih, directions=directions, lengths=lengths)


def _operand(cfg: Config, t: Tensor) -> Tensor:
    """A tensor the step product reads: rounded to bfloat16 for the bfloat16 kernel (a no-op
    for one stored so), else as it is; contiguous."""
    return (t.to(torch.bfloat16) if cfg.bf16 else t).contiguous()


def _input_bias(cfg: Config, w: dict[str, Tensor | None]) -> Tensor | None:
    """What the input projection adds: b_ih + b_hh, which only ever appear summed, except in
    the GRU, whose b_hn sits inside r * (U_n h + b_hn): b_ih alone."""
    if w["bias_ih"] is None or cfg.mode == "GRU":
        return w["bias_ih"]
    return w["bias_ih"] + w["bias_hh"]


def _recurrent_bias(cfg: Config, w: dict[str, Tensor | None], x: Tensor) -> Tensor | None:
    """The GRU kernel's b_hh (zeros without biases); the others have none."""
    if cfg.mode != "GRU":
        return None
    return w["bias_hh"] if w["bias_hh"] is not None else x.new_zeros(cfg.gates * cfg.hidden)


def _buffers(cfg, x, w, masks, dtype) -> dict[str, Tensor]:
    """The buffers one direction's backward pass reads (see the module docstring)."""
    H, P, G = cfg.hidden, cfg.out, cfg.gates
    steps, batch, size = x.shape

    def new(*shape: int) -> Tensor:
        return WORKSPACE.empty(*shape, dtype=dtype)

    buffers = dict(hin=new(steps, batch, size + P if cfg.mode == "LSTM" else P))
    if cfg.mode == "GRU":
        buffers["hn"] = new(steps, batch, H)
        if masks["rmask"] is not None:
            buffers["hprev"] = new(steps, batch, H)
    if cfg.mode != "LSTM":
        return buffers
    buffers["cseq"] = new(steps + 1, batch, H)
    if masks["zmc"] is not None or cfg.zoneout_eval[1]:
        buffers["cnew"] = new(steps, batch, H)
    if w["lng"] is not None:
        buffers |= dict(lnhat=new(steps, batch, G * H), lnrstd=new(steps, batch, G))
    if w["lncg"] is not None:
        buffers |= dict(cnhat=new(steps, batch, H), cnrstd=new(steps, batch))
    return buffers


class LayerFunction(torch.autograd.Function):
    """Forward through the C kernels, saving their buffers; backward by the hand-written BPTT."""

    @staticmethod
    def forward(ctx, cfg, lengths, masks, num_states, x, *rest):
        hx, flat = rest[:num_states], rest[num_states:]
        n = len(FIELDS)
        weights = tuple(flat[k : k + n] for k in range(0, len(flat), n))
        outputs, state = _forward(cfg, lengths, masks, x, hx, weights, save=True)
        ctx.cfg, ctx.state = cfg, state
        ctx.save_for_backward(x)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, *dfinals):
        cfg, state, (x,) = ctx.cfg, ctx.state, ctx.saved_tensors
        steps, batch, _ = x.shape
        D, H, P, GH = cfg.directions, cfg.hidden, cfg.out, cfg.gates * cfg.hidden
        dxw = WORKSPACE.empty(steps, batch, D * GH, dtype=x.dtype)
        dfinals = [f.contiguous() for f in dfinals]
        dstates = [torch.empty_like(f) for f in dfinals]
        args, grads = [], []
        for d, direction in enumerate(state["directions"]):
            w, g = direction["w"], {}
            for name, grad_name in PARAM_GRADS.items():
                if w[name] is not None:
                    g[grad_name] = torch.empty_like(w[name])
            if cfg.mode == "GRU":
                g["dhw"] = WORKSPACE.empty(steps, batch, GH, dtype=x.dtype)
            if w["whr"] is not None:
                g["dhnew"] = WORKSPACE.empty(steps, batch, P, dtype=x.dtype)
                g["mbuf"] = WORKSPACE.empty(steps, batch, H, dtype=x.dtype)
            tensors = direction["static"] | direction["buffers"] | g
            tensors |= {"xw": (state["xw"], d * GH), "dxw": (dxw, d * GH)}
            tensors["dout"] = (dout, d * P * dout.stride(2))
            for name, grad, final in zip(("h", "c"), dstates, dfinals):
                k = d * grad[0].numel()
                tensors |= {f"d{name}0": (grad, k), f"d{name}T": (final, k)}
            a = _args(cfg, x, d, True, _pointers(tensors))
            a.dout_st, a.dout_sb, a.dout_sf = dout.stride()
            args.append(a)
            grads.append(g)
        _run(cfg, x.dtype, "backward", args)
        weight_grads = _weight_grads(ctx, x, dxw, grads)
        return (None, None, None, None, *weight_grads[:1], *dstates, *weight_grads[1:])


def _weight_grads(ctx, x: Tensor, dxw: Tensor, grads: list[dict]) -> list[Tensor | None]:
    """d(x), then every direction's FIELDS gradients: each weight's is one GEMM over all steps."""
    cfg, state, needs = ctx.cfg, ctx.state, ctx.needs_input_grad
    steps, batch, size = x.shape
    D, P, GH = cfg.directions, cfg.out, cfg.gates * cfg.hidden
    dxw2, x2 = dxw.view(-1, D * GH), x.reshape(-1, size)
    dx = None
    if needs[4]:
        dx = WORKSPACE.empty(steps, batch, size, dtype=x.dtype)
        _matmul(cfg, dx.view(-1, size), dxw2, state["w_ih"])
    offset = len(needs) - D * len(FIELDS)  # inputs: cfg, lengths, masks, n, x, *hx, *weights
    wants = [needs[offset + k * len(FIELDS) : offset + (k + 1) * len(FIELDS)] for k in range(D)]
    d_w_ih = None
    if cfg.mode != "LSTM" and any(w[0] for w in wants):
        d_w_ih = _matmul(cfg, x.new_empty(D * GH, size), dxw2, x2, trans_a=True)
    summed = cfg.mode != "GRU"  # b_ih and b_hh entered as one sum: the same gradient
    d_bias = dxw2.sum(0) if any(w[1] or (summed and w[3]) for w in wants) else None
    result = [dx]
    for d, (direction, g, want) in enumerate(zip(state["directions"], grads, wants)):
        cols = slice(d * GH, (d + 1) * GH)
        hin = direction["buffers"]["hin"]
        hin = hin.view(-1, hin.shape[-1])
        da_rec = g["dhw"].view(-1, GH) if "dhw" in g else dxw2[:, cols]  # d(U h + b_hh)
        field = dict.fromkeys(FIELDS)
        if cfg.mode == "LSTM" and (want[0] or want[2]):  # d([W_ih, U]) = sum_t da_t^T hin_t
            both = _matmul(cfg, x.new_empty(GH, size + P), da_rec, hin, trans_a=True)
            field["weight_ih"], field["weight_hh"] = both[:, :size], both[:, size:]
        elif want[2]:  # d(U) = sum_t da_t^T hin_t
            field["weight_hh"] = _matmul(cfg, x.new_empty(GH, P), da_rec, hin, trans_a=True)
        if d_w_ih is not None:
            field["weight_ih"] = d_w_ih[cols]
        if want[1]:
            field["bias_ih"] = d_bias[cols]
        if want[3]:  # a copy: autograd may keep a gradient as .grad and add into it later
            field["bias_hh"] = d_bias[cols].clone() if summed else da_rec.sum(0)
        if want[4]:  # d(W_hr) = sum_t dh_t^T m_t
            dhnew, mbuf = g["dhnew"].view(-1, P), g["mbuf"].view(-1, cfg.hidden)
            field["whr"] = _matmul(cfg, x.new_empty(P, cfg.hidden), dhnew, mbuf, trans_a=True)
        for name in ("wch", "lng", "lnb", "lncg", "lncb"):
            if want[FIELDS.index(name)]:
                field[name] = g[PARAM_GRADS[name]]
        result += [field[name] if want[k] else None for k, name in enumerate(FIELDS)]
    return result
