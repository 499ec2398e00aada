"""bfloat16 layers and CPU autocast: bfloat16 storage, float32 arithmetic, the stated fallback."""

import logging

import pytest
import torch
from bf16_checks import train_step

import lstmkit
from lstmkit.engines import precision, select

LAYERS = [
    (lstmkit.LSTM, dict()),
    (lstmkit.LSTM, dict(peephole=True, layer_norm=True)),
    (lstmkit.LSTM, dict(cifg=True, proj_size=3, zoneout=(0.2, 0.1), recurrent_dropout=0.2)),
    (lstmkit.LSTM, dict(num_layers=2, bidirectional=True, weight_drop=0.3, dropout=0.2)),
    (lstmkit.GRU, dict(bidirectional=True, zoneout=0.2)),
    (lstmkit.RNN, dict(num_layers=2)),
    (lstmkit.RNN, dict(nonlinearity="relu")),
]
STEPS, BATCH, INPUT, HIDDEN = 9, 3, 5, 8
LENGTHS = [9, 4, 6]
BF16 = torch.bfloat16


pytestmark = pytest.mark.usefixtures("one_thread")


def _twins(cls, options, dtype):
    """A bfloat16 layer and a `dtype` one holding the same (bfloat16-representable) weights."""
    torch.manual_seed(0)
    low = cls(INPUT, HIDDEN, **options).to(BF16)
    wide = cls(INPUT, HIDDEN, **options).to(dtype)
    wide.load_state_dict({k: v.to(dtype) for k, v in low.state_dict().items()})
    return low, wide


@pytest.mark.parametrize(("cls", "options"), LAYERS)
def test_bf16_is_the_float32_fused_layer_rounded_once(cls, options, monkeypatch):
    """Same weights, input, seed and output gradients: every bfloat16 result (outputs,
    states, the input's and every parameter's gradient) is the float32 engine's result
    rounded to bfloat16 once, exactly: the arithmetic in between is float32 throughout.
    (The float32-compute path: the bfloat16 kernel, tests/test_bf16_kernel.py, is off.)"""
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")
    low, wide = _twins(cls, options, torch.float32)
    low.engine = wide.engine = "fused"
    low.train(), wide.train()
    x = torch.randn(STEPS, BATCH, INPUT).to(BF16)
    got, expected = train_step(low, x, LENGTHS), train_step(wide, x.float(), LENGTHS)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == BF16
        assert torch.equal(g, e.to(BF16))
    assert select.engine_for(low.spec(), x, False).name.startswith("fused (bfloat16")


@pytest.mark.parametrize(("cls", "options"), LAYERS)
def test_bf16_against_float64_autograd(cls, options):
    """Tolerance: inputs and weights carry bfloat16's 2^-9 relative rounding, the outputs
    one more; the float64 layer uses the same rounded weights and input, so the gap is the
    float32 arithmetic and the final rounding: rtol 1e-2, atol 1e-2."""
    low, wide = _twins(cls, options, torch.float64)
    wide.engine = "autograd"
    low.eval(), wide.eval()  # no noise: the float64 oracle draws no masks
    x = torch.randn(STEPS, BATCH, INPUT).to(BF16)
    got, expected = train_step(low, x, LENGTHS), train_step(wide, x.double(), LENGTHS)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g.double(), e, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(("cls", "options"), LAYERS[:1] + LAYERS[4:6])
def test_autocast_runs_the_bf16_layer(cls, options):
    """Under CPU autocast a float32 layer gives bfloat16 outputs equal to its bfloat16 copy's,
    and float32 gradients reach its float32 parameters."""
    low, wide = _twins(cls, options, torch.float32)
    low.eval(), wide.eval()
    x = torch.randn(STEPS, BATCH, INPUT)
    with torch.autocast("cpu", dtype=BF16):
        out, _ = wide(x, lengths=LENGTHS)
    assert out.dtype == BF16
    assert torch.equal(out, low(x.to(BF16), lengths=LENGTHS)[0])
    out.float().sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in wide.parameters())


def test_bf16_with_bounded_memory_matches(monkeypatch):
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")  # both on the float32-compute path
    low, _ = _twins(lstmkit.LSTM, dict(num_layers=2), torch.float32)
    x = torch.randn(STEPS, BATCH, INPUT).to(BF16)
    expected = train_step(low, x, LENGTHS)
    low.checkpoint_every = 2
    for g, e in zip(train_step(low, x, LENGTHS), expected, strict=True):
        torch.testing.assert_close(g, e, rtol=2**-7, atol=1e-5)


def test_the_fallback_is_taken_and_said(monkeypatch, caplog):
    """Without AVX-512 BF16 (simulated by the switch) the float32-compute path runs and the
    plan names the missing instruction, once, in the log."""
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")
    monkeypatch.setattr(select, "_TOLD", set())
    assert not select.cpu_has_avx512_bf16()
    plan = select.low_precision_plan(BF16)
    assert "compute in float32" in plan and "LSTMKIT_NO_AVX512_BF16" in plan
    layer = lstmkit.LSTM(INPUT, HIDDEN).to(BF16)
    with caplog.at_level(logging.INFO, logger="lstmkit.engines.select"):
        layer(torch.randn(STEPS, BATCH, INPUT).to(BF16))
        layer(torch.randn(STEPS, BATCH, INPUT).to(BF16))
    assert [r.getMessage() for r in caplog.records] == [plan]


def test_the_flag_check_reads_cpuid_flags(monkeypatch):
    monkeypatch.delenv("LSTMKIT_NO_AVX512_BF16", raising=False)
    monkeypatch.delenv("LSTMKIT_BF16_EMULATE", raising=False)
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    assert select.cpu_has_avx512_bf16() == ("avx512_bf16" in flags)
    monkeypatch.setattr(select, "_cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert select.cpu_has_avx512_bf16()
    plan = select.low_precision_plan(BF16)  # the kernel runs, or the plan says why not
    assert "run the bfloat16 kernel" in plan or "the CPU has AVX-512 BF16, but" in plan
    monkeypatch.setattr(select, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert "no AVX-512 BF16" in select.low_precision_plan(BF16)


def test_autocast_accepts_the_bfloat16_states_it_returned():
    """A stateful loop under autocast feeds the layer's bfloat16 (h_n, c_n) back in with a
    float32 input (what torch.nn.LSTM accepts too); outside autocast the dtypes must match."""
    layer = lstmkit.LSTM(INPUT, HIDDEN)
    x = torch.randn(STEPS, BATCH, INPUT)
    with torch.autocast("cpu", dtype=BF16):
        _, state = layer(x)
        assert state[0].dtype == BF16
        out, _ = layer(x, state)
    assert out.dtype == BF16
    with pytest.raises(TypeError, match="h_0 has dtype"):
        layer(x, state)


def test_layers_in_rounds_the_layers_only():
    """Inside precision.layers_in the float32 layer computes what its bfloat16 copy computes
    and hands it back as float32 (outputs, states, the input's gradient); float32
    gradients reach its parameters; torch's own ops stay float32."""
    low, wide = _twins(lstmkit.LSTM, dict(num_layers=2), torch.float32)
    low.eval(), wide.eval()
    x = torch.randn(STEPS, BATCH, INPUT).to(BF16).float().requires_grad_()
    with precision.layers_in(BF16):
        out, (h, c) = wide(x, lengths=LENGTHS)
        assert torch.nn.Linear(HIDDEN, 2)(out).dtype == torch.float32
    expected, (h16, c16) = low(x.detach().to(BF16), lengths=LENGTHS)
    for got, want in ((out, expected), (h, h16), (c, c16)):
        assert got.dtype == torch.float32 and torch.equal(got, want.float())
    out.sum().backward()
    assert x.grad.dtype == torch.float32
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in wide.parameters())
    assert torch.equal(wide(x)[0], wide.float()(x)[0])  # outside it: float32 again
    with pytest.raises(ValueError, match="layers_in takes"), precision.layers_in(torch.float32):
        pass
