"""Bounded-memory training (checkpoint_every): the normal path's gradients, O(T/k) saved."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lstmkit
from lstmkit.engines import recompute
from lstmkit.engines.select import engine_for

LSTM_OPTIONS = [
    dict(),
    dict(peephole=True),
    dict(cifg=True),
    dict(layer_norm=True),
    dict(proj_size=3),
    dict(recurrent_dropout=0.3),
    dict(zoneout=(0.1, 0.4)),
    dict(weight_drop=0.3),
    dict(peephole=True, cifg=True, layer_norm=True, proj_size=2, recurrent_dropout=0.2,
         zoneout=(0.3, 0.1), weight_drop=0.2),
]  # fmt: skip
SINGLE_STATE = [
    (lstmkit.GRU, dict()),
    (lstmkit.RNN, dict()),
    (lstmkit.RNN, dict(nonlinearity="relu")),
    (lstmkit.GRU, dict(recurrent_dropout=0.3, zoneout=0.2, weight_drop=0.3)),
    (lstmkit.RNN, dict(recurrent_dropout=0.3, zoneout=0.2, weight_drop=0.3)),
]
SHAPES = [  # (layer options, lengths)
    (dict(), None),
    (dict(), [13, 4, 9]),
    (dict(num_layers=2, bidirectional=True, dropout=0.25), [5, 13, 1]),
    (dict(bidirectional=True, batch_first=True), None),
]
STEPS, BATCH, INPUT, HIDDEN = 13, 3, 5, 7


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def segments(monkeypatch):
    """Counts the recomputed directions, to be sure the bounded path ran."""
    calls = []
    apply = recompute.Recompute.apply

    def counting(plan, *args):
        calls.append(plan.segments(args[0].shape[0]))
        return apply(plan, *args)

    monkeypatch.setattr(recompute.Recompute, "apply", counting)
    return calls


def _step(cls, options, k, engine, dtype, lengths, seed=3):
    """One training step: outputs, final states, d(input) and every parameter's gradient,
    then one draw of the generator (the noise must consume it alike)."""
    torch.manual_seed(0)
    layer = cls(INPUT, HIDDEN, engine=engine, checkpoint_every=k, dtype=dtype, **options)
    shape = (BATCH, STEPS) if options.get("batch_first") else (STEPS, BATCH)
    x = torch.randn(*shape, INPUT, dtype=dtype, requires_grad=True)
    torch.manual_seed(seed)
    out, states = layer(x, lengths=lengths)
    states = states if isinstance(states, tuple) else (states,)
    weights = torch.linspace(-1, 1, out.numel(), dtype=dtype).view_as(out)
    loss = (out * weights).sum() + sum((s * s).sum() for s in states)
    grads = torch.autograd.grad(loss, [x, *layer.parameters()])
    return [out, *states, *grads, torch.rand(1)]


def _compare(cls, options, engine, dtype, lengths, k, tol):
    expected = _step(cls, options, 0, engine, dtype, lengths)
    got = _step(cls, options, k, engine, dtype, lengths)
    for g, e in zip(got, expected, strict=True):
        torch.testing.assert_close(g, e, **tol)


EXACT = dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("options", LSTM_OPTIONS)
def test_lstm_variants_float64_equal_the_normal_path(engine, options, segments):
    _compare(lstmkit.LSTM, options, engine, torch.float64, [13, 4, 9], 4, EXACT)
    assert segments and all(len(s) == 4 for s in segments)  # 13 steps in 4, 4, 4, 1


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize(("shape", "lengths"), SHAPES)
def test_shapes_float64_equal_the_normal_path(engine, shape, lengths, segments):
    options = dict(shape, zoneout=0.2, recurrent_dropout=0.2)
    _compare(lstmkit.LSTM, options, engine, torch.float64, lengths, 5, EXACT)
    assert len(segments) == shape.get("num_layers", 1) * (1 + shape.get("bidirectional", 0))


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize(("cls", "options"), SINGLE_STATE)
@pytest.mark.parametrize("lengths", [None, [2, 13, 7]])
def test_gru_and_rnn_float64_equal_the_normal_path(engine, cls, options, lengths, segments):
    _compare(cls, dict(options, bidirectional=True), engine, torch.float64, lengths, 3, EXACT)
    assert len(segments) == 2


@pytest.mark.parametrize("options", LSTM_OPTIONS[:1] + LSTM_OPTIONS[-1:])
def test_float32_fused_within_the_fused_tolerance(options, segments):
    tol = dict(rtol=1e-4, atol=2e-5)  # tests/test_fused.py's float32 tolerance
    _compare(lstmkit.LSTM, options, "fused", torch.float32, [13, 6, 11], 4, tol)
    _compare(lstmkit.GRU, {}, "fused", torch.float32, None, 4, tol)
    assert segments


@pytest.mark.parametrize("k", [1, 12, 13, 50])
def test_every_segment_length(k, segments):
    """One-step segments, a short last one, and k >= T (then the normal path runs)."""
    _compare(lstmkit.LSTM, dict(zoneout=0.3), "fused", torch.float64, [13, 4, 9], k, EXACT)
    assert len(segments) == (1 if k < STEPS else 0)


def test_autograd_engine_saves_only_segment_starts():
    """Saved for backward: the input, the weights and ceil(T/k) states, against every step's
    activations on the normal path (counted with autograd's saved-tensor hooks)."""
    steps, k = 400, 20

    def saved_bytes(every: int) -> int:
        total = []

        def pack(t):
            total.append(t.numel() * t.element_size())
            return t

        layer = lstmkit.LSTM(INPUT, HIDDEN, engine="autograd", checkpoint_every=every)
        x = torch.randn(steps, BATCH, INPUT)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out, _ = layer(x)
        out.sum().backward()
        return sum(total)

    weights = sum(p.numel() for p in lstmkit.LSTM(INPUT, HIDDEN).parameters())
    state_floats = math.ceil(steps / k) * BATCH * 2 * HIDDEN
    expected = 4 * (steps * BATCH * INPUT + weights + state_floats)
    assert saved_bytes(k) == expected
    assert saved_bytes(0) > 10 * expected


def test_gradients_reach_the_parameters_by_backward():
    layer = lstmkit.LSTM(INPUT, HIDDEN, num_layers=2, checkpoint_every=4, dtype=torch.float64)
    x = torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64)
    layer(x)[0].sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())


def test_auto_runs_fused_and_native_refuses():
    layer = lstmkit.LSTM(INPUT, HIDDEN, checkpoint_every=4)
    x = torch.randn(STEPS, BATCH, INPUT)
    assert engine_for(layer.spec(), x, False).name != "native"
    layer.engine = "native"
    with pytest.raises(ValueError, match="checkpoint_every"):
        layer(x)
    with torch.no_grad():  # inference keeps nothing: native runs it
        assert layer(x)[0].shape == (STEPS, BATCH, HIDDEN)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "4"])
def test_bad_checkpoint_every_is_refused(bad):
    with pytest.raises(ValueError, match="checkpoint_every must be an integer >= 0"):
        lstmkit.LSTM(INPUT, HIDDEN, checkpoint_every=bad)


def test_repr_names_it():
    assert "checkpoint_every=8" in repr(lstmkit.GRU(INPUT, HIDDEN, checkpoint_every=8))


@pytest.mark.parametrize("engine", ["fused", "autograd"])
def test_a_broadcast_output_gradient(engine):
    """out.mean() hands back a stride-0 gradient; the segments slice it like any other."""
    grads = []
    for k in (0, 4):
        torch.manual_seed(0)
        layer = lstmkit.LSTM(INPUT, HIDDEN, bidirectional=True, engine=engine, checkpoint_every=k)
        layer.double()(torch.randn(STEPS, BATCH, INPUT, dtype=torch.float64))[0].mean().backward()
        grads.append([p.grad for p in layer.parameters()])
    for g, e in zip(*grads, strict=True):
        torch.testing.assert_close(g, e, **EXACT)


@pytest.mark.slow
def test_the_benchmark_figures_at_t_1e5():
    """benchmarks/memory.py at T=10^5 (B=8, H=128): bounded <= 0.25x the normal path's peak
    RSS (measured 0.230x; the caller's floor alone is 0.22x) and under 150 MiB of its own."""
    script = Path(__file__).parents[1] / "benchmarks" / "memory.py"
    peaks = {}
    for impl in ("normal", "bounded"):
        command = [sys.executable, str(script), "--child", impl, "100000", "0", "1", "mean"]
        env = {**os.environ, "OMP_NUM_THREADS": "2"}
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        peaks[impl] = json.loads(done.stdout.splitlines()[-1])
    floor = 100000 * 8 * (32 + 2 * 128) * 4 / 2**20
    bounded, normal = peaks["bounded"], peaks["normal"]
    assert bounded["peak_mib"] <= 0.25 * normal["peak_mib"]
    assert bounded["peak_mib"] - bounded["base_mib"] - floor < 150
