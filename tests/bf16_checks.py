"""Shared by the bfloat16 tests (test_bf16_kernel.py, test_bf16_kernel_layers.py, test_bf16.py).

Tolerances. The kernel computes what the float32 engine computes on the bfloat16-rounded
weights and input, except that h_{t-1} is rounded to bfloat16 (relative error <= 2^-9) for
the step product, and the products are summed in another order (float32, ~2^-24 each).
A pre-activation thus moves by at most 2^-9 sum_k |U_jk h_k| (|h| < 1; with these weights,
|U_jk| < 1/sqrt(H), about 2^-9 sqrt(H) ~ 0.006 at H = 12, typically sqrt(H) times less), the
gates pass it on with derivative <= 1, and the final rounding to bfloat16 can land one
bfloat16 ulp apart (2^-8 relative). So the outputs agree to atol 4e-3 plus rtol 2^-7: the
largest gap measured here is one such ulp, 2^-8 at an output in [0.5, 1), under half the
bound there; the float64 oracle alike.
"""

import torch

import lstmkit
from lstmkit.engines import bf16_kernel, select

BF16 = torch.bfloat16
STEPS, BATCH, INPUT, HIDDEN = 11, 5, 7, 12  # odd I + H: the kernel's pad column
LENGTHS = [11, 4, 1, 9, 11]
ATOL, RTOL = 4e-3, 2**-7
REAL = select.cpu_has_avx512_bf16() and bf16_kernel.built() is None  # the real kernel runs


def use_kernel_code(monkeypatch) -> None:
    """Where the real kernel cannot run, its emulated build does (and the switch that turns
    the kernel off is off: the tests that want it set it)."""
    monkeypatch.delenv("LSTMKIT_NO_AVX512_BF16", raising=False)
    if not REAL:
        monkeypatch.setenv("LSTMKIT_BF16_EMULATE", "1")


def variant(options, dtype=BF16, cls=lstmkit.LSTM):
    torch.manual_seed(0)
    return cls(INPUT, HIDDEN, **options).to(dtype)


def input_(options, lengths=True):
    torch.manual_seed(1)
    shape = (BATCH, STEPS, INPUT) if options.get("batch_first") else (STEPS, BATCH, INPUT)
    return torch.randn(shape).to(BF16), (LENGTHS if lengths else None)


def results(layer, x, lengths, hx=None):
    with torch.no_grad():
        out, states = layer(x, hx, lengths=lengths)
    return [out, *(states if isinstance(states, tuple) else (states,))]


def close(got, want, atol=ATOL):
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g.double(), w.double(), atol=atol, rtol=RTOL)


def train_step(layer, x, lengths, seed=5):
    """Output, final states and the gradients of the input and every parameter."""
    x = x.detach().requires_grad_()
    torch.manual_seed(seed)
    out, states = layer(x, lengths=lengths)
    states = states if isinstance(states, tuple) else (states,)
    # bfloat16-representable output gradients, so both twins backpropagate the same numbers
    weights = torch.linspace(-1, 1, out.numel()).view_as(out).to(BF16).to(out.dtype)
    loss = (out * weights).float().sum() + sum(s.float().sum() for s in states)
    return [out, *states, *torch.autograd.grad(loss, [x, *layer.parameters()])]


def close_scaled(got, want):
    """Gradients: each sums T*B products of the backward's float32 chain with the forward's
    gates, which moved by the bfloat16 rounding of h (above), and the LSTM's chain through
    time itself takes da_t rounded to bfloat16 (2^-9 relative) for d(h_{t-1}) = da_t U; each
    then is rounded to bfloat16; so within 2^-6 of the tensor's largest magnitude plus rtol
    2^-6 (largest gap measured against float64 autograd, emulated, seeds 0-2 of the float64
    tests' configurations: 2^-8.0 of the largest magnitude)."""
    for g, w in zip(got, want, strict=True):
        scale = w.double().abs().max().item()
        torch.testing.assert_close(g.double(), w.double(), atol=2**-6 * scale, rtol=2**-6)
