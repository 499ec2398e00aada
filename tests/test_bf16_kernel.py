"""The bfloat16 kernel (engines/bf16_kernel.py): the LSTM (every variant), GRU and RNN on
AVX-512 BF16, inference and training.

On a CPU with avx512_bf16 these test the kernel as built for it; on one without, the same
kernel code with vdpbf16ps emulated in float32 arithmetic (LSTMKIT_BF16_EMULATE=1,
kernels/bf16_ops.h): its packing, tiles, lengths, directions and threads are then tested
on every CPU, and only the five vector operations of bf16_ops.h differ where the real
instruction runs (`test_the_emulation_matches_the_instruction` compares the two there).
The fallback (no kernel: the float32-compute path) is tests/test_bf16.py's and the switch
test's below.

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

import pytest
import torch

import lstmkit
from lstmkit.engines import bf16_kernel, precision, select

BF16 = torch.bfloat16
STEPS, BATCH, INPUT, HIDDEN = 11, 5, 7, 12  # odd I + H: the kernel's pad column
LENGTHS = [11, 4, 1, 9, 11]
CONFIGS = [
    dict(),
    dict(bias=False),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True),
    dict(batch_first=True),
]
ATOL, RTOL = 4e-3, 2**-7
REAL = select.cpu_has_avx512_bf16() and bf16_kernel.built() is None  # the real kernel runs


@pytest.fixture(autouse=True)
def _kernel_code(monkeypatch):
    """Where the real kernel cannot run, its emulated build does (and the switch that turns
    the kernel off is off: the tests that want it set it)."""
    monkeypatch.delenv("LSTMKIT_NO_AVX512_BF16", raising=False)
    if not REAL:
        monkeypatch.setenv("LSTMKIT_BF16_EMULATE", "1")


pytestmark = pytest.mark.usefixtures("one_thread")


def _twins(options, dtype=torch.float32):
    """A bfloat16 layer (eval mode) and a `dtype` copy holding the same weights."""
    torch.manual_seed(0)
    low = lstmkit.LSTM(INPUT, HIDDEN, **options).to(BF16).eval()
    wide = lstmkit.LSTM(INPUT, HIDDEN, **options).to(dtype).eval()
    wide.load_state_dict({k: v.to(dtype) for k, v in low.state_dict().items()})
    return low, wide


def _input(options, lengths=True):
    torch.manual_seed(1)
    shape = (BATCH, STEPS, INPUT) if options.get("batch_first") else (STEPS, BATCH, INPUT)
    return torch.randn(shape).to(BF16), (LENGTHS if lengths else None)


def _results(layer, x, lengths, hx=None):
    with torch.no_grad():
        out, states = layer(x, hx, lengths=lengths)
    return [out, *(states if isinstance(states, tuple) else (states,))]


def _float32_compute(low, x, lengths, hx=None):
    """Today's path (bfloat16 storage, float32 arithmetic): the float32 layer on the same
    weights and input, rounded once (tests/test_bf16.py shows the two are equal); "auto"
    picks the engine the float32-compute path's own choice would (the same rule)."""
    _, wide = _twins(_options_of(low))
    hx = None if hx is None else tuple(s.float() for s in hx)
    return [t.to(BF16) for t in _results(wide, x.float(), lengths, hx)]


def _options_of(layer):
    return dict(
        bias=layer.bias, num_layers=layer.num_layers, batch_first=layer.batch_first,
        bidirectional=layer.bidirectional,
    )  # fmt: skip


def _close(got, want, atol=ATOL):
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g.double(), w.double(), atol=atol, rtol=RTOL)


def _atol(options):
    """Layer norm divides each gate group's pre-activation, and with it the error of the
    rounded h, by the group's standard deviation over the H units (0.5-1 with these
    weights): twice the tolerance. Largest gap measured over seeds 0-4 of VARIANTS: 0.006
    (peephole, CIFG and layer norm together), 0.0029 with layer norm alone."""
    return 2 * ATOL if options.get("layer_norm") else ATOL


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
    x, lens = _input(options, lengths)
    got, want = _results(low, x, lens), _float32_compute(low, x, lens)
    assert all(g.dtype == BF16 for g in got)
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name == bf16_kernel.BF16_KERNEL.name
    _close(got, want)
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
    x, lens = _input(options)
    h0 = torch.randn(low.num_layers * low.num_directions, BATCH, HIDDEN).to(BF16)
    hx = (h0, (h0 * 2).to(BF16))
    want = _results(wide, x.double(), lens, tuple(s.double() for s in hx))
    _close(_results(low, x, lens, hx), want)


def test_autocast_and_layers_in_run_the_same_kernel():
    """A float32 layer under autocast (bfloat16 results) and inside layers_in (float32
    results holding them) computes exactly what its bfloat16 copy computes."""
    low, wide = _twins(dict(num_layers=2))
    x, lens = _input({})
    expected = _results(low, x, lens)
    with torch.autocast("cpu", dtype=BF16):
        under = _results(wide, x.float(), lens)
    with precision.layers_in(BF16):
        inside = _results(wide, x.float(), lens)
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
    x, lens = _input({})
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name.endswith("float32 compute)")
    got, want = _results(low, x, lens), _float32_compute(low, x, lens)
    assert all(torch.equal(g, w) for g, w in zip(got, want))


def _train_step(layer, x, lengths, seed=5):
    """Output, final states and the gradients of the input and every parameter."""
    x = x.detach().requires_grad_()
    torch.manual_seed(seed)
    out, states = layer(x, lengths=lengths)
    states = states if isinstance(states, tuple) else (states,)
    weights = torch.linspace(-1, 1, out.numel()).view_as(out).to(BF16).to(out.dtype)
    loss = (out * weights).float().sum() + sum(s.float().sum() for s in states)
    return [out, *states, *torch.autograd.grad(loss, [x, *layer.parameters()])]


def _close_scaled(got, want):
    """Gradients: each sums T*B products of the backward's float32 chain with the forward's
    gates, which moved by the bfloat16 rounding of h (above), and the LSTM's chain through
    time itself takes da_t rounded to bfloat16 (2^-9 relative) for d(h_{t-1}) = da_t U; each
    then is rounded to bfloat16; so within 2^-6 of the tensor's largest magnitude plus rtol
    2^-6 (largest gap measured against float64 autograd, emulated, seeds 0-2 of the float64
    tests' configurations: 2^-8.0 of the largest magnitude)."""
    for g, w in zip(got, want, strict=True):
        scale = w.double().abs().max().item()
        torch.testing.assert_close(g.double(), w.double(), atol=2**-6 * scale, rtol=2**-6)


@pytest.mark.parametrize("options", [dict(), dict(num_layers=2, bidirectional=True, dropout=0.3)])
def test_training_against_the_float32_compute_path(monkeypatch, options):
    """A training step (train mode, inter-layer dropout under one seed): the forward on the
    kernel and the float32 fused backward, against the whole step in float32 compute."""
    low, _ = _twins(options)
    low.train()
    low.engine = "fused"  # both paths draw the dropout masks in run_stack's order
    x, lens = _input(options)
    name = select.engine_for(low.spec(), x, False).name
    got = _train_step(low, x, lens)
    monkeypatch.setenv("LSTMKIT_NO_AVX512_BF16", "1")
    want = _train_step(low, x, lens)
    assert all(g.dtype == BF16 for g in got)
    assert name == bf16_kernel.BF16_KERNEL.name
    _close_scaled(got, want)


def test_training_against_float64_autograd():
    low, wide = _twins(dict(num_layers=2), torch.float64)
    low.train(), wide.train()
    wide.engine = "autograd"
    x, lens = _input({})
    _close_scaled(_train_step(low, x, lens), _train_step(wide, x.double(), lens))


def test_what_keeps_the_float32_compute_path():
    """An engine named other than fused, float16."""
    low, _ = _twins({})
    x, _ = _input({})
    with torch.no_grad():
        low.engine = "autograd"
        assert select.engine_for(low.spec(), x, False).name.startswith("autograd")
        half = lstmkit.GRU(INPUT, HIDDEN).to(torch.float16).eval()
        assert select.engine_for(half.spec(), x.half(), False).name.endswith("float32 compute)")


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (lstmkit.LSTM, {}),
        (lstmkit.LSTM, dict(peephole=True, proj_size=5, zoneout=0.2, bidirectional=True)),
        (lstmkit.GRU, dict(recurrent_dropout=0.2, num_layers=2)),
    ],
)
def test_bounded_memory_training_runs_the_kernel_and_matches(cls, options):
    """checkpoint_every=k: the segments (and their recomputation) on the kernel give the
    normal kernel path's step (one seed): outputs and the input's gradient exactly (the
    same per-step arithmetic; the rows' thread split does not change a row), the weights'
    gradients up to the order of their float32 sums over segments, then rounded to
    bfloat16 (at most one bfloat16 rounding step apart)."""
    low = _variant(options, cls=cls).train()
    x, lens = _input(options)
    want = _train_step(low, x, lens)
    low.checkpoint_every = 3
    probe = x.detach().requires_grad_()
    assert select.engine_for(low.spec(), probe, False).name == bf16_kernel.BF16_KERNEL.name
    got = _train_step(low, x, lens)
    exact = 3 if cls is lstmkit.LSTM else 2
    assert all(torch.equal(g, w) for g, w in zip(got[: exact + 1], want[: exact + 1]))
    for g, w in zip(got[exact + 1 :], want[exact + 1 :]):
        torch.testing.assert_close(g.double(), w.double(), atol=1e-6, rtol=2**-7)


VARIANTS = [
    dict(peephole=True),
    dict(cifg=True),
    dict(layer_norm=True),
    dict(peephole=True, cifg=True, layer_norm=True, forget_bias=1.0),
    dict(proj_size=5),
    dict(proj_size=5, peephole=True, num_layers=2, bidirectional=True),
    dict(zoneout=(0.1, 0.4)),  # in eval mode: the expected mix of old and new states
    dict(layer_norm=True, proj_size=7, batch_first=True),
]
NOISE = [
    dict(recurrent_dropout=0.3),
    dict(zoneout=0.2),
    dict(zoneout=(0.1, 0.4), proj_size=5),
    dict(weight_drop=0.3, peephole=True),
    dict(recurrent_dropout=0.2, zoneout=0.1, weight_drop=0.2, num_layers=2, dropout=0.3),
]


SINGLE = [  # the GRU and the RNNs: (class, options)
    (lstmkit.GRU, {}),
    (lstmkit.GRU, dict(num_layers=2, bidirectional=True, bias=False)),
    (lstmkit.RNN, {}),
    (lstmkit.RNN, dict(nonlinearity="relu", bidirectional=True)),
]
SINGLE_NOISE = [
    (lstmkit.GRU, dict(recurrent_dropout=0.3, zoneout=0.2)),
    (lstmkit.GRU, dict(weight_drop=0.3, num_layers=2, dropout=0.3)),
    (lstmkit.RNN, dict(recurrent_dropout=0.2, zoneout=0.1, weight_drop=0.2)),
]


def _variant(options, dtype=BF16, cls=lstmkit.LSTM):
    torch.manual_seed(0)
    return cls(INPUT, HIDDEN, **options).to(dtype)


def _float32_compute_of(layer, run, monkeypatch):
    """`run()` again on the float32-compute path (the switch turns the kernel off)."""
    with monkeypatch.context() as m:
        m.setenv("LSTMKIT_NO_AVX512_BF16", "1")
        return run()


@pytest.mark.parametrize(
    ("cls", "options"), [(lstmkit.LSTM, o) for o in VARIANTS] + SINGLE
)  # fmt: skip
def test_variants_against_the_float32_compute_path(cls, options, monkeypatch):
    """Every variant's (and the GRU's and RNN's) inference on the kernel, against the same
    bfloat16 layer on the float32-compute path (float32 arithmetic on the same rounded
    weights and input)."""
    low = _variant(options, cls=cls).eval()
    x, lens = _input(options)
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name == bf16_kernel.BF16_KERNEL.name
    got = _results(low, x, lens)
    want = _float32_compute_of(low, lambda: _results(low, x, lens), monkeypatch)
    _close(got, want, _atol(options))
    assert not all(torch.equal(g, w) for g, w in zip(got, want))  # h was rounded: it ran


@pytest.mark.parametrize(
    ("cls", "options"), [(lstmkit.LSTM, o) for o in VARIANTS[:6]] + SINGLE
)  # fmt: skip
def test_variants_against_float64_autograd(cls, options):
    """The kernel against float64 autograd on the same rounded weights and input."""
    low = _variant(options, cls=cls).eval()
    wide = _variant(options, torch.float64, cls).eval()
    wide.load_state_dict({k: v.double() for k, v in low.state_dict().items()})
    wide.engine = "autograd"
    x, lens = _input(options)
    _close(_results(low, x, lens), _results(wide, x.double(), lens), _atol(options))


@pytest.mark.parametrize(
    ("cls", "options"), [(lstmkit.LSTM, o) for o in VARIANTS[:6] + NOISE] + SINGLE + SINGLE_NOISE
)  # fmt: skip
def test_variant_training_against_the_float32_compute_path(cls, options, monkeypatch):
    """A training step of every variant, the GRU and the RNNs, and every kind of recurrent
    noise (train mode, one seed: both paths draw the masks in the fused engine's order),
    the forward on the kernel, against the whole step on the float32-compute path."""
    low = _variant(options, cls=cls).train()
    low.engine = "fused"
    x, lens = _input(options)
    name = select.engine_for(low.spec(), x.detach().requires_grad_(), False).name
    got = _train_step(low, x, lens)
    want = _float32_compute_of(low, lambda: _train_step(low, x, lens), monkeypatch)
    assert name == bf16_kernel.BF16_KERNEL.name
    assert all(g.dtype == BF16 for g in got)
    _close_scaled(got, want)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (lstmkit.LSTM, dict(peephole=True, layer_norm=True, proj_size=5, bidirectional=True)),
        (lstmkit.GRU, dict(num_layers=2, bidirectional=True)),
        (lstmkit.RNN, dict(nonlinearity="relu")),
    ],
)
def test_variant_training_against_float64_autograd(cls, options):
    low = _variant(options, cls=cls).train()
    wide = _variant(options, torch.float64, cls).train()
    wide.load_state_dict({k: v.double() for k, v in low.state_dict().items()})
    wide.engine = "autograd"
    x, lens = _input({})
    _close_scaled(_train_step(low, x, lens), _train_step(wide, x.double(), lens))


def test_results_do_not_depend_on_the_thread_count():
    """Rows are independent sequences: two threads give the one-thread result bitwise."""
    low = lstmkit.LSTM(INPUT, 64).to(BF16).eval()
    x = torch.randn(40, 64, INPUT).to(BF16)
    one = _results(low, x, None)
    torch.set_num_threads(2)
    two = _results(low, x, None)
    assert all(torch.equal(a, b) for a, b in zip(one, two))


@pytest.mark.skipif(not REAL, reason="compares the emulation with vdpbf16ps: needs AVX-512 BF16")
def test_the_emulation_matches_the_instruction(monkeypatch):
    """The emulated build (what the tests above run on other CPUs) against the instruction:
    the same kernel code, so they differ only in how each lane's two products are summed."""
    options = dict(num_layers=2, bidirectional=True)
    layers = [_variant(options, cls=cls).eval() for cls in (lstmkit.LSTM, lstmkit.GRU)]
    x, lens = _input({})
    real = [_results(layer, x, lens) for layer in layers]
    monkeypatch.setenv("LSTMKIT_BF16_EMULATE", "1")
    assert "emulated in float32 arithmetic" in select.low_precision_plan(BF16)
    for layer, want in zip(layers, real):
        _close(_results(layer, x, lens), want)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (lstmkit.LSTM, {}),
        (lstmkit.LSTM, dict(peephole=True, layer_norm=True, proj_size=5, bidirectional=True)),
        (lstmkit.GRU, dict(recurrent_dropout=0.2, bidirectional=True)),
        (lstmkit.RNN, {}),
    ],
)
def test_the_backward_runs_its_recurrent_product_in_bfloat16(cls, options, monkeypatch):
    """The BPTT on the kernel (d(h_{t-1}) = bf16(da_t) U) against the float32 BPTT after
    the same kernel forward: the gradients differ by the rounding of da, and only by it
    (within the tolerance); the outputs are the same."""
    low = _variant(options, cls=cls).train()
    x, lens = _input(options)
    got = _train_step(low, x, lens)
    key = ("lstm" if cls is lstmkit.LSTM else "gru", bf16_kernel._suffix())
    kernels = bf16_kernel._kernels[key]
    monkeypatch.setitem(bf16_kernel._kernels, key, {"forward": kernels["forward"]})
    want = _train_step(low, x, lens)
    outputs = 3 if cls is lstmkit.LSTM else 2
    assert all(torch.equal(g, w) for g, w in zip(got[:outputs], want[:outputs]))
    assert not all(torch.equal(g, w) for g, w in zip(got[outputs:], want[outputs:]))
    _close_scaled(got[outputs:], want[outputs:])
