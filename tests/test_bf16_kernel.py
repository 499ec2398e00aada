"""The bfloat16 kernel (engines/bf16_kernel.py) on the plain LSTM, and which path runs
where (the variants, the GRU and the RNNs: test_bf16_kernel_layers.py).

On a CPU with avx512_bf16 these test the kernel as built for it; on one without, the same
kernel code with vdpbf16ps emulated in float32 arithmetic (LSTMKIT_BF16_EMULATE=1,
kernels/bf16_ops.h): its packing, tiles, lengths, directions and threads are then tested
on every CPU, and only the five vector operations of bf16_ops.h differ where the real
instruction runs (`test_the_emulation_matches_the_instruction` compares the two there).
The fallback (no kernel: the float32-compute path) is tests/test_bf16.py's and the switch
test's below.

Tolerances: tests/bf16_checks.py.
"""

import pytest
import torch
from bf16_checks import (
    BATCH,
    BF16,
    HIDDEN,
    INPUT,
    LENGTHS,
    REAL,
    close,
    close_scaled,
    input_,
    results,
    train_step,
    use_kernel_code,
    variant,
)

import lstmkit
from lstmkit.engines import bf16_kernel, precision, select

CONFIGS = [
    dict(),
    dict(bias=False),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True),
    dict(batch_first=True),
]


@pytest.fixture(autouse=True)
def _kernel_code(monkeypatch):
    use_kernel_code(monkeypatch)


pytestmark = pytest.mark.usefixtures("one_thread")


def _twins(options, dtype=torch.float32):
    """A bfloat16 layer (eval mode) and a `dtype` copy holding the same weights."""
    torch.manual_seed(0)
    low = lstmkit.LSTM(INPUT, HIDDEN, **options).to(BF16).eval()
    wide = lstmkit.LSTM(INPUT, HIDDEN, **options).to(dtype).eval()
    wide.load_state_dict({k: v.to(dtype) for k, v in low.state_dict().items()})
    return low, wide


def _float32_compute(low, x, lengths, hx=None):
    """Today's path (bfloat16 storage, float32 arithmetic): the float32 layer on the same
    weights and input, rounded once (tests/test_bf16.py shows the two are equal); "auto"
    picks the engine the float32-compute path's own choice would (the same rule)."""
    _, wide = _twins(_options_of(low))
    hx = None if hx is None else tuple(s.float() for s in hx)
    return [t.to(BF16) for t in results(wide, x.float(), lengths, hx)]


def _options_of(layer):
    return dict(
        bias=layer.bias, num_layers=layer.num_layers, batch_first=layer.batch_first,
        bidirectional=layer.bidirectional,
    )  # fmt: skip


def test_the_plan_says_which_path_runs(monkeypatch):
    plan = select.low_precision_plan(BF16)
    assert "run the bfloat16 kernel" in plan and "GRU and RNN layers" in plan
    assert select.bf16_kernel_built()
    assert ("emulated in float32 arithmetic" in plan) == (not REAL)
    assert "compute in float32" in select.low_precision_plan(torch.float16)
    monkeypatch.delenv("LSTMKIT_BF16_EMULATE", raising=False)
    plan = select.low_precision_plan(BF16)
    assert ("run the bfloat16 kernel" in plan) == REAL
    if not REAL:  # only the switch takes the emulation: without it, the fallback says why
        assert "compute in float32" in plan
        assert any(why in plan for why in ("no AVX-512 BF16", "but the bfloat16 kernel"))


@pytest.mark.parametrize("options", CONFIGS)
@pytest.mark.parametrize("lengths", [True, False])
def test_against_the_float32_fused_engine(options, lengths):
    """The kernel against the float32 fused engine on the rounded weights and input, within
    the stated tolerance."""
    low, _ = _twins(options)
    x, lens = input_(options, lengths)
    got, want = results(low, x, lens), _float32_compute(low, x, lens)
    assert all(g.dtype == BF16 for g in got)
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name == bf16_kernel.BF16_KERNEL.name
    close(got, want)
    assert not all(torch.equal(g, w) for g, w in zip(got, want))  # h was rounded: it ran
    if lens is not None:  # steps past a length: zero output
        out = got[0].transpose(0, 1) if options.get("batch_first") else got[0]
        assert not out[LENGTHS[1] :, 1].any()


@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True)])
def test_against_float64_autograd(options):
    """Against the float64 autograd engine on the same rounded weights and input (and the
    layer-2 input, which the kernel rounds to bfloat16: within the same tolerance)."""
    low, wide = _twins(options, torch.float64)
    wide.engine = "autograd"
    x, lens = input_(options)
    h0 = torch.randn(low.num_layers * low.num_directions, BATCH, HIDDEN).to(BF16)
    hx = (h0, (h0 * 2).to(BF16))
    want = results(wide, x.double(), lens, tuple(s.double() for s in hx))
    close(results(low, x, lens, hx), want)


def test_autocast_and_layers_in_run_the_same_kernel():
    """A float32 layer under autocast (bfloat16 results) and inside layers_in (float32
    results holding them) computes exactly what its bfloat16 copy computes."""
    low, wide = _twins(dict(num_layers=2))
    x, lens = input_({})
    expected = results(low, x, lens)
    with torch.autocast("cpu", dtype=BF16):
        under = results(wide, x.float(), lens)
    with precision.layers_in(BF16):
        inside = results(wide, x.float(), lens)
    for e, u, i in zip(expected, under, inside):
        assert u.dtype == BF16 and torch.equal(u, e)
        assert i.dtype == torch.float32 and torch.equal(i, e.float())


def test_the_switch_falls_back_to_todays_path(monkeypatch):
    """LSTMKIT_NO_AVX512_BF16=1: the plan names the switch and the results are exactly the
    float32-compute path's."""
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")
    assert "LSTMKIT_NO_AVX512_BF16 is set" in select.low_precision_plan(BF16)
    assert not select.bf16_kernel_built()
    low, _ = _twins(dict(bidirectional=True))
    x, lens = input_({})
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name.endswith("float32 compute)")
    got, want = results(low, x, lens), _float32_compute(low, x, lens)
    assert all(torch.equal(g, w) for g, w in zip(got, want))


@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True, dropout=0.3)])
def test_training_against_the_float32_compute_path(monkeypatch, options):
    """A training step (train mode, inter-layer dropout under one seed): the forward on the
    kernel and the float32 fused backward, against the whole step in float32 compute."""
    low, _ = _twins(options)
    low.train()
    low.engine = "fused"  # both paths draw the dropout masks in run_stack's order
    x, lens = input_(options)
    name = select.engine_for(low.spec(), x, False).name
    got = train_step(low, x, lens)
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")
    want = train_step(low, x, lens)
    assert all(g.dtype == BF16 for g in got)
    assert name == bf16_kernel.BF16_KERNEL.name
    close_scaled(got, want)


def test_training_against_float64_autograd():
    low, wide = _twins(dict(num_layers=2), torch.float64)
    low.train(), wide.train()
    wide.engine = "autograd"
    x, lens = input_({})
    close_scaled(train_step(low, x, lens), train_step(wide, x.double(), lens))


def test_what_keeps_the_float32_compute_path():
    """An engine named other than fused, float16."""
    low, _ = _twins({})
    x, _ = input_({})
    with torch.no_grad():
        low.engine = "autograd"
        assert select.engine_for(low.spec(), x, False).name.startswith("autograd")
        half = lstmkit.GRU(INPUT, HIDDEN).to(torch.float16).eval()
        assert select.engine_for(half.spec(), x.half(), False).name.endswith("float32 compute)")


def test_results_do_not_depend_on_the_thread_count():
    """Rows are independent sequences: two threads give the one-thread result bitwise."""
    low = lstmkit.LSTM(INPUT, 64).to(BF16).eval()
    x = torch.randn(40, 64, INPUT).to(BF16)
    one = results(low, x, None)
    torch.set_num_threads(2)
    two = results(low, x, None)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


@pytest.mark.skipif(not REAL, reason="compares the emulation with vdpbf16ps: needs AVX-512 BF16")
def test_the_emulation_matches_the_instruction(monkeypatch):
    """The emulated build (what the tests above run on other CPUs) against the instruction:
    the same kernel code, so they differ only in how each lane's two products are summed."""
    options = dict(num_layers=2, bidirectional=True)
    layers = [variant(options, cls=cls).eval() for cls in (lstmkit.LSTM, lstmkit.GRU)]
    x, lens = input_({})
    real = [results(layer, x, lens) for layer in layers]
    monkeypatch.setenv("LSTMKIT_BF16_EMULATE", "1")
    assert "emulated in float32 arithmetic" in select.low_precision_plan(BF16)
    for layer, want in zip(layers, real):
        close(results(layer, x, lens), want)
