"""The fused recurrences as autograd Functions: C kernels for the time loop, GEMMs for the rest.

One call runs one layer in one direction. Forward: the kernel steps through time from
the precomputed input projections xw (one GEMM over all steps, done by the caller) and
saves what its backward needs. Backward: the kernel runs the hand-written BPTT and returns
d(xw); the recurrent and projection weight gradients are then one GEMM each over all
steps, from buffers of all steps (the caller's input GEMM gives d(x), d(W_ih), d(b)).

Buffers, all (T, B, n) in natural time order (reversed directions index them per row):

    LSTM  gates (G*H) activations      read by backward (every derivative)
          cprev, cnew, tc (H)          c_{t-1}, c_t before zoneout, tanh of the shown cell
          hin (P)                      h_{t-1} * mask: the recurrent GEMM's input, for dU
          lnhat (G*H), lnrstd (G)      layer norm of the gates: normalised values, 1/sigma
          cnhat (H), cnrstd (1)        layer norm of the cell
          dhnew (P), mbuf (H)          backward only, projection: dW_hr = sum dh^T m
    GRU   gates (4H) r, z, n, U_n h + b_hn;  hin (H);  hprev (H) with recurrent dropout
          dhw (3H)                     backward only: d(U h + b_hh), for dU and d(b_hh)
    RNN   gates (H) the new h;  hin (H)

Steps past a sequence's length keep zeros in hin, d(xw), dhnew and mbuf, so that the
GEMMs over all steps add nothing for them.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from lstmkit.engines.fused_build import RecArgs, kernel

CELLS = {"LSTM": 0, "GRU": 1, "RNN_TANH": 2, "RNN_RELU": 3}


@dataclass(frozen=True)
class Config:
    """What one layer-direction call needs beyond tensors."""

    mode: str  # "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
    hidden: int
    gates: int  # G
    cifg: bool = False
    reverse: bool = False
    zoneout_eval: tuple[float, float] = (0.0, 0.0)  # rates mixed in eval mode, (h, c)
    threads: int = 1

    @property
    def family(self) -> str:
        return "lstm" if self.mode == "LSTM" else "gru"


def _ptr(t: Tensor | None) -> int | None:
    """The address of a contiguous tensor; the caller keeps the tensor alive over the call."""
    return None if t is None else t.data_ptr()


def _args(cfg: Config, x: Tensor, lengths: Tensor | None, out_size: int, **tensors) -> RecArgs:
    steps, batch, _ = x.shape
    a = RecArgs(
        cell=CELLS[cfg.mode], T=steps, B=batch, H=cfg.hidden, P=out_size, G=cfg.gates,
        cifg=int(cfg.cifg), reverse=int(cfg.reverse), nthreads=cfg.threads,
        zh=cfg.zoneout_eval[0], zc=cfg.zoneout_eval[1], lengths=_ptr(lengths),
    )  # fmt: skip
    for name, t in tensors.items():
        setattr(a, name, _ptr(t))
    return a


def _run(cfg: Config, dtype: torch.dtype, direction: str, args: RecArgs) -> None:
    kernel(cfg.family, dtype, direction)(ctypes.byref(args))


def _contiguous(*tensors: Tensor | None) -> list[Tensor | None]:
    return [None if t is None else t.contiguous() for t in tensors]


def lstm(
    cfg: Config,
    lengths: Tensor | None,
    masks: tuple[Tensor | None, Tensor | None, Tensor | None],
    xw: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_hh: Tensor,
    params: tuple[Tensor | None, ...],
) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer-direction: (out (T,B,P), h_T, c_T).

    Args:
        cfg: static switches; lengths: (B,) int64 or None.
        masks: recurrent-dropout mask (B,P) and zoneout keep-masks (T,B,P), (T,B,H), or None.
        xw: (T,B,G*H) input projections including both biases.
        h0, c0: (B,P), (B,H); weight_hh: (G*H,P), after weight drop.
        params: weight_hr, weight_ch, ln_gates_weight, ln_gates_bias, ln_cell_weight,
            ln_cell_bias (None where absent).
    """
    tensors = (xw, h0, c0, weight_hh, *params)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return LSTMFunction.apply(cfg, lengths, *masks, *tensors)
    lengths, *masks = _contiguous(lengths, *masks)
    return _lstm_forward(cfg, lengths, masks, *_contiguous(*tensors), save=False)[0]


def _lstm_forward(cfg, lengths, masks, xw, h0, c0, U, whr, wch, lng, lnb, lncg, lncb, save):
    steps, batch, _ = xw.shape
    H, P, G = cfg.hidden, h0.shape[-1], cfg.gates
    new = xw.new_empty
    out, hT, cT = new(steps, batch, P), new(batch, P), new(batch, H)
    saved = {}
    if save:
        saved = dict(
            gates=new(steps, batch, G * H), cprev=new(steps, batch, H),
            cnew=new(steps, batch, H), tc=new(steps, batch, H), hin=new(steps, batch, P),
        )  # fmt: skip
        if lng is not None:
            saved |= dict(lnhat=new(steps, batch, G * H), lnrstd=new(steps, batch, G))
        if lncg is not None:
            saved |= dict(cnhat=new(steps, batch, H), cnrstd=new(steps, batch))
    rmask, zmh, zmc = masks
    args = _args(
        cfg, xw, lengths, P, xw=xw, h0=h0, c0=c0, U=U, whr=whr, wch=wch, lng=lng, lnb=lnb,
        lncg=lncg, lncb=lncb, rmask=rmask, zmh=zmh, zmc=zmc, out=out, hT=hT, cT=cT, **saved,
    )  # fmt: skip
    _run(cfg, xw.dtype, "forward", args)
    return (out, hT, cT), saved


class LSTMFunction(torch.autograd.Function):
    """Forward through the C kernel, saving its buffers; backward by the hand-written BPTT."""

    @staticmethod
    def forward(ctx, cfg, lengths, rmask, zmh, zmc, *tensors):
        lengths, rmask, zmh, zmc, *tensors = _contiguous(lengths, rmask, zmh, zmc, *tensors)
        outputs, saved = _lstm_forward(cfg, lengths, (rmask, zmh, zmc), *tensors, save=True)
        ctx.cfg, ctx.names = cfg, list(saved)
        ctx.save_for_backward(lengths, rmask, zmh, zmc, *tensors, *saved.values())
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dhT, dcT):
        cfg = ctx.cfg
        lengths, rmask, zmh, zmc, xw, h0, _c0, U, whr, wch, lng, lnb, lncg, lncb, *rest = (
            ctx.saved_tensors
        )
        saved = dict(zip(ctx.names, rest))
        steps, batch, GH = xw.shape
        H, P = cfg.hidden, h0.shape[-1]
        new = xw.new_empty
        grads = dict(dxw=new(steps, batch, GH), dh0=new(batch, P), dc0=new(batch, H))
        for name, param in (("dwch", wch), ("dlng", lng), ("dlnb", lnb), ("dlncg", lncg),
                            ("dlncb", lncb)):  # fmt: skip
            grads[name] = None if param is None else torch.empty_like(param)
        if whr is not None:
            grads |= dict(dhnew=new(steps, batch, P), mbuf=new(steps, batch, H))
        dout, dhT, dcT = _contiguous(dout, dhT, dcT)  # kept alive: the kernel reads them
        args = _args(
            cfg, xw, lengths, P, U=U, whr=whr, wch=wch, lng=lng, lnb=lnb, lncg=lncg, lncb=lncb,
            rmask=rmask, zmh=zmh, zmc=zmc, dout=dout, dhT=dhT, dcT=dcT, **saved, **grads,
        )  # fmt: skip
        _run(cfg, xw.dtype, "backward", args)
        dxw = grads["dxw"]
        # One GEMM over all steps each: dU = sum_t da_t^T hin_t, dW_hr = sum_t dh_t^T m_t.
        dU = dxw.view(-1, GH).T @ saved["hin"].view(-1, P) if U.requires_grad else None
        dWhr = None
        if whr is not None and whr.requires_grad:
            dWhr = grads["dhnew"].view(-1, P).T @ grads["mbuf"].view(-1, H)
        return (
            None, None, None, None, None, dxw, grads["dh0"], grads["dc0"], dU, dWhr,
            grads["dwch"], grads["dlng"], grads["dlnb"], grads["dlncg"], grads["dlncb"],
        )  # fmt: skip


def gru(
    cfg: Config,
    lengths: Tensor | None,
    masks: tuple[Tensor | None, Tensor | None],
    xw: Tensor,
    h0: Tensor,
    weight_hh: Tensor,
    bias_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """One GRU or RNN layer-direction: (out (T,B,H), h_T).

    Args:
        cfg: static switches; lengths: (B,) int64 or None.
        masks: recurrent-dropout mask (B,H) and zoneout keep-mask (T,B,H), or None.
        xw: (T,B,G*H) input projections (RNN: including b_hh; GRU: b_ih only).
        h0: (B,H); weight_hh: (G*H,H) after weight drop; bias_hh: GRU's b_hh, or None.
    """
    if cfg.mode == "GRU" and bias_hh is None:
        bias_hh = xw.new_zeros(xw.shape[-1])
    tensors = (xw, h0, weight_hh, bias_hh)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        return GRUFunction.apply(cfg, lengths, *masks, *tensors)
    lengths, *masks = _contiguous(lengths, *masks)
    return _gru_forward(cfg, lengths, masks, *_contiguous(*tensors), save=False)[0]


def _gru_forward(cfg, lengths, masks, xw, h0, U, bhh, save):
    steps, batch, _ = xw.shape
    H = cfg.hidden
    new = xw.new_empty
    out, hT = new(steps, batch, H), new(batch, H)
    saved = {}
    if save:
        width = 4 * H if cfg.mode == "GRU" else H
        saved = dict(gates=new(steps, batch, width), hin=new(steps, batch, H))
        if masks[0] is not None and cfg.mode == "GRU":
            saved["hprev"] = new(steps, batch, H)
    args = _args(
        cfg, xw, lengths, H, xw=xw, h0=h0, U=U, bhh=bhh, rmask=masks[0], zmh=masks[1],
        out=out, hT=hT, **saved,
    )  # fmt: skip
    _run(cfg, xw.dtype, "forward", args)
    return (out, hT), saved


class GRUFunction(torch.autograd.Function):
    """The GRU / RNN counterpart of LSTMFunction."""

    @staticmethod
    def forward(ctx, cfg, lengths, rmask, zmh, *tensors):
        lengths, rmask, zmh, *tensors = _contiguous(lengths, rmask, zmh, *tensors)
        outputs, saved = _gru_forward(cfg, lengths, (rmask, zmh), *tensors, save=True)
        ctx.cfg, ctx.names = cfg, list(saved)
        ctx.save_for_backward(lengths, rmask, zmh, *tensors, *saved.values())
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dhT):
        cfg = ctx.cfg
        lengths, rmask, zmh, xw, h0, U, bhh, *rest = ctx.saved_tensors
        saved = dict(zip(ctx.names, rest))
        GH, H = xw.shape[-1], cfg.hidden
        grads = dict(dxw=torch.empty_like(xw), dh0=torch.empty_like(h0))
        if cfg.mode == "GRU":
            grads["dhw"] = torch.empty_like(xw)
        dout, dhT = _contiguous(dout, dhT)
        args = _args(
            cfg, xw, lengths, H, U=U, bhh=bhh, rmask=rmask, zmh=zmh, dout=dout, dhT=dhT,
            **saved, **grads,
        )  # fmt: skip
        _run(cfg, xw.dtype, "backward", args)
        dhw = grads.get("dhw", grads["dxw"]).view(-1, GH)  # d(U h + b_hh) of every step
        dU = dhw.T @ saved["hin"].view(-1, H) if U.requires_grad else None
        dbhh = dhw.sum(0) if bhh is not None and bhh.requires_grad else None
        return None, None, None, None, grads["dxw"], grads["dh0"], dU, dbhh
