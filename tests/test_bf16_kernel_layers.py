"""The bfloat16 kernel on every LSTM variant, the GRU and the RNNs: inference, training
(with every kind of recurrent noise), its backward's bfloat16 product, bounded memory.
Tolerances and the emulation where the instruction is missing: tests/bf16_checks.py."""

import pytest
import torch
from bf16_checks import (
    ATOL,
    BF16,
    close,
    close_scaled,
    input_,
    results,
    train_step,
    use_kernel_code,
    variant,
)

import lstmkit
from lstmkit.engines import bf16_kernel, select

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _kernel_code(monkeypatch):
    use_kernel_code(monkeypatch)


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


def _atol(options):
    """Layer norm divides each gate group's pre-activation, and with it the error of the
    rounded h, by the group's standard deviation over the H units (0.5-1 with these
    weights): twice the tolerance. Largest gap measured over seeds 0-4 of VARIANTS: 0.006
    (peephole, CIFG and layer norm together), 0.0029 with layer norm alone."""
    return 2 * ATOL if options.get("layer_norm") else ATOL


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
    low = variant(options, cls=cls).eval()
    x, lens = input_(options)
    with torch.no_grad():
        assert select.engine_for(low.spec(), x, False).name == bf16_kernel.BF16_KERNEL.name
    got = results(low, x, lens)
    want = _float32_compute_of(low, lambda: results(low, x, lens), monkeypatch)
    close(got, want, _atol(options))
    assert not all(torch.equal(g, w) for g, w in zip(got, want))  # h was rounded: it ran


@pytest.mark.parametrize(
    ("cls", "options"), [(lstmkit.LSTM, o) for o in VARIANTS[:6]] + SINGLE
)  # fmt: skip
def test_variants_against_float64_autograd(cls, options):
    """The kernel against float64 autograd on the same rounded weights and input."""
    low = variant(options, cls=cls).eval()
    wide = variant(options, torch.float64, cls).eval()
    wide.load_state_dict({k: v.double() for k, v in low.state_dict().items()})
    wide.engine = "autograd"
    x, lens = input_(options)
    close(results(low, x, lens), results(wide, x.double(), lens), _atol(options))


@pytest.mark.parametrize(
    ("cls", "options"), [(lstmkit.LSTM, o) for o in VARIANTS[:6] + NOISE] + SINGLE + SINGLE_NOISE
)  # fmt: skip
def test_variant_training_against_the_float32_compute_path(cls, options, monkeypatch):
    """A training step of every variant, the GRU and the RNNs, and every kind of recurrent
    noise (train mode, one seed: both paths draw the masks in the fused engine's order),
    the forward on the kernel, against the whole step on the float32-compute path."""
    low = variant(options, cls=cls).train()
    low.engine = "fused"
    x, lens = input_(options)
    name = select.engine_for(low.spec(), x.detach().requires_grad_(), False).name
    got = train_step(low, x, lens)
    want = _float32_compute_of(low, lambda: train_step(low, x, lens), monkeypatch)
    assert name == bf16_kernel.BF16_KERNEL.name
    assert all(g.dtype == BF16 for g in got)
    close_scaled(got, want)


@pytest.mark.parametrize(
    ("cls", "options"),
    [
        (lstmkit.LSTM, dict(peephole=True, layer_norm=True, proj_size=5, bidirectional=True)),
        (lstmkit.GRU, dict(num_layers=2, bidirectional=True)),
        (lstmkit.RNN, dict(nonlinearity="relu")),
    ],
)
def test_variant_training_against_float64_autograd(cls, options):
    low = variant(options, cls=cls).train()
    wide = variant(options, torch.float64, cls).train()
    wide.load_state_dict({k: v.double() for k, v in low.state_dict().items()})
    wide.engine = "autograd"
    x, lens = input_({})
    close_scaled(train_step(low, x, lens), train_step(wide, x.double(), lens))


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
    low = variant(options, cls=cls).train()
    x, lens = input_(options)
    want = train_step(low, x, lens)
    low.checkpoint_every = 3
    probe = x.detach().requires_grad_()
    assert select.engine_for(low.spec(), probe, False).name == bf16_kernel.BF16_KERNEL.name
    got = train_step(low, x, lens)
    exact = 3 if cls is lstmkit.LSTM else 2
    assert all(torch.equal(g, w) for g, w in zip(got[: exact + 1], want[: exact + 1]))
    for g, w in zip(got[exact + 1 :], want[exact + 1 :]):
        torch.testing.assert_close(g.double(), w.double(), atol=1e-6, rtol=2**-7)


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
    low = variant(options, cls=cls).train()
    x, lens = input_(options)
    got = train_step(low, x, lens)
    key = ("lstm" if cls is lstmkit.LSTM else "gru", bf16_kernel._suffix())
    kernels = bf16_kernel._kernels[key]
    monkeypatch.setitem(bf16_kernel._kernels, key, {"forward": kernels["forward"]})
    want = train_step(low, x, lens)
    outputs = 3 if cls is lstmkit.LSTM else 2
    assert all(torch.equal(g, w) for g, w in zip(got[:outputs], want[:outputs]))
    assert not all(torch.equal(g, w) for g, w in zip(got[outputs:], want[outputs:]))
    close_scaled(got[outputs:], want[outputs:])
