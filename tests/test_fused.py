"""The fused engine against the autograd engine (the oracle), and the automatic engine choice."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit
import lstmkit.engines.fused
from lstmkit.engines import fused_build, select
from lstmkit.engines.select import engine_for

LSTM_VARIANTS = [
    dict(),
    dict(peephole=True),
    dict(cifg=True),
    dict(layer_norm=True),
    dict(proj_size=3),
    dict(recurrent_dropout=0.3),
    dict(zoneout=0.2),
    dict(zoneout=(0.1, 0.4)),
    dict(weight_drop=0.3),
    dict(
        peephole=True,
        cifg=True,
        layer_norm=True,
        proj_size=2,
        recurrent_dropout=0.2,
        zoneout=(0.3, 0.1),
        weight_drop=0.2,
    ),
]
SHAPES = [  # (layer options, lengths)
    (dict(), None),
    (dict(num_layers=2, bidirectional=True, dropout=0.25), [5, 2, 4]),
    (dict(bidirectional=True, batch_first=True), [1, 5, 3]),
]
SINGLE_STATE = [
    (lstmkit.GRU, dict()),
    (lstmkit.RNN, dict()),
    (lstmkit.RNN, dict(nonlinearity="relu")),
    (lstmkit.GRU, dict(recurrent_dropout=0.3, zoneout=0.2, weight_drop=0.3)),
    (lstmkit.RNN, dict(recurrent_dropout=0.3, zoneout=0.2, weight_drop=0.3)),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _twins(cls, input_size, hidden_size, dtype, **options):
    """The same layer on the autograd and the fused engine, with the same weights."""
    torch.manual_seed(0)
    oracle = cls(input_size, hidden_size, engine="autograd", **options).to(dtype)
    fused = cls(input_size, hidden_size, engine="fused", **options).to(dtype)
    with torch.no_grad():  # spread the weights so that every gate is exercised
        for p in oracle.parameters():
            p.uniform_(-0.6, 0.6)
    fused.load_state_dict(oracle.state_dict())
    return oracle, fused


def _run(layer, x, hx, lengths, seed):
    """Outputs, final states and every gradient of a random projection of them."""
    torch.manual_seed(seed)  # the same dropout/zoneout masks for both engines
    out, states = layer(x, hx, lengths=lengths)
    states = states if isinstance(states, tuple) else (states,)
    results = [out, *states]
    gen = torch.Generator().manual_seed(99)
    loss = sum((r * torch.randn(r.shape, generator=gen, dtype=r.dtype)).sum() for r in results)
    inputs = [x, *(hx if isinstance(hx, tuple) else (hx,)), *layer.parameters()]
    return results + list(torch.autograd.grad(loss, inputs))


def _compare(cls, options, lengths, dtype, train, steps=5, batch=3, size=4, hidden=6, seed=1):
    oracle, fused = _twins(cls, size, hidden, dtype, **options)
    oracle.train(train), fused.train(train)
    torch.manual_seed(seed)
    x = torch.randn(steps, batch, size, dtype=dtype)
    if options.get("batch_first"):
        x = x.transpose(0, 1).contiguous()
    x.requires_grad_()
    depth = oracle.num_layers * oracle.num_directions
    h0 = torch.randn(depth, batch, oracle.proj_size or hidden, dtype=dtype, requires_grad=True)
    c0 = torch.randn(depth, batch, hidden, dtype=dtype, requires_grad=True)
    hx = (h0, c0) if cls is lstmkit.LSTM else h0
    expected = _run(oracle, x, hx, lengths, seed)
    got = _run(fused, x, hx, lengths, seed)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == torch.float64 else dict(rtol=1e-4, atol=2e-5)
    for index, (g, e) in enumerate(zip(got, expected)):
        torch.testing.assert_close(g, e, **tol, msg=lambda m, i=index: f"result {i}: {m}")


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("variant", LSTM_VARIANTS, ids=str)
def test_fused_lstm_equals_autograd_float64(variant, shape, train):
    options, lengths = shape
    _compare(lstmkit.LSTM, variant | options, lengths, torch.float64, train)


@pytest.mark.parametrize("variant", LSTM_VARIANTS, ids=str)
def test_fused_lstm_equals_autograd_float32(variant):
    """Sizes off the kernels' tiles: hidden 37 (gate tails), batch 9 (row-tile remainders)."""
    options = variant | dict(num_layers=2, bidirectional=True)
    lengths = [11, 3, 7, 11, 1, 9, 10, 4, 6]
    _compare(lstmkit.LSTM, options, lengths, torch.float32, True, 11, 9, 5, 37)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("cls_options", SINGLE_STATE, ids=str)
def test_fused_gru_and_rnn_equal_autograd(cls_options, shape, train):
    cls, variant = cls_options
    options, lengths = shape
    _compare(cls, variant | options, lengths, torch.float64, train)
    _compare(cls, variant | options, lengths, torch.float32, train, 7, 3, 4, 21)


@pytest.mark.parametrize("trans", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kernels_gemm_equals_torch_at_panel_edges(trans, dtype):
    """Every tile shape of kernels/matmul.h: rows 1-6 and chunk edges, narrow, partial and
    full panels, K blocks, with bias, accumulation and either thread count."""
    mm = fused_build.matmul("lstm", dtype)
    gen = torch.Generator().manual_seed(0)
    for M, N, K in [(1, 1, 1), (5, 16, 7), (7, 32, 300), (97, 40, 33), (13, 64, 256),
                    (400, 100, 513), (389, 130, 64)]:  # fmt: skip
        a = torch.randn((K, M) if trans else (M, K), dtype=dtype, generator=gen)
        b = torch.randn(N, K, dtype=dtype, generator=gen).T  # strided: b[k, n] at n*K + k
        bias = torch.randn(N, dtype=dtype, generator=gen)
        before = torch.randn(M, N, dtype=dtype, generator=gen)
        expected = (a.T if trans else a) @ b
        for threads in (1, 2):
            for add, with_bias in ((False, True), (True, False)):
                out = before.clone()
                mm(int(trans), M, N, K, a.data_ptr(), a.stride(0), b.data_ptr(), b.stride(0),
                   b.stride(1), bias.data_ptr() if with_bias else None, out.data_ptr(),
                   out.stride(0), int(add), threads)  # fmt: skip
                want = expected + (before if add else bias)
                tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
                torch.testing.assert_close(out, want, **tol, msg=f"{M}x{N}x{K} {threads}")


@pytest.mark.parametrize(
    "variant",
    [dict(), dict(peephole=True, cifg=True), dict(zoneout=(0.2, 0.3), recurrent_dropout=0.3)],
    ids=str,
)
@pytest.mark.parametrize("threads, options", [(2, dict()), (4, dict(bidirectional=True))], ids=str)
def test_small_batches_split_the_hidden_units_across_threads(
    monkeypatch, variant, threads, options
):
    """Batches of fewer than two rows per thread take the unit-split loops (one barrier a step)."""
    monkeypatch.setattr(lstmkit.engines.fused, "MIN_WORK_PER_THREAD", 1)
    torch.set_num_threads(threads)
    layer = lstmkit.LSTM(3, 40, **options, **variant)
    assert lstmkit.engines.fused.layer_config(layer.spec(), 5, 3).units
    for train in (True, False):
        _compare(lstmkit.LSTM, variant | options, [5, 2, 4], torch.float64, train, hidden=40)
        _compare(lstmkit.LSTM, variant | options, None, torch.float32, train, 6, 1, 3, 37)


def test_large_weights_split_the_hidden_units(monkeypatch):
    """Above UNITS_BYTES of [W_ih, U] per row of a thread the threads split the units, not
    the rows (each streams its share of the weights); layer norm keeps the row split."""
    monkeypatch.setattr(lstmkit.engines.fused, "MIN_WORK_PER_THREAD", 1)
    torch.set_num_threads(2)
    plan = lstmkit.engines.fused.layer_config
    big = lstmkit.LSTM(32, 1024)  # 17.3 MB of weights: 2.2 MB a row at B=16, 0.54 at B=64
    assert plan(big.spec(), 100, 16).units and not plan(big.spec(), 100, 64).units
    assert not plan(lstmkit.LSTM(32, 512).spec(), 100, 16).units  # 0.56 MB a row
    assert not plan(lstmkit.LSTM(32, 1024, layer_norm=True).spec(), 100, 16).units
    monkeypatch.setattr(lstmkit.engines.fused, "UNITS_BYTES", 1)  # small layers take it too
    variant = dict(peephole=True, zoneout=(0.2, 0.3), recurrent_dropout=0.3)
    assert plan(lstmkit.LSTM(3, 40, **variant).spec(), 6, 5).units
    for train in (True, False):
        _compare(lstmkit.LSTM, variant, [5, 2, 4, 6, 1], torch.float64, train, 6, 5, 3, 40)


def test_fused_accepts_packed_and_unbatched_input():
    oracle, fused = _twins(lstmkit.LSTM, 3, 5, torch.float32, layer_norm=True, bidirectional=True)
    x = torch.randn(6, 3, 3)
    packed = pack_padded_sequence(x, [4, 6, 2], enforce_sorted=False)
    got, expected = fused(packed), oracle(packed)
    torch.testing.assert_close(got[0].data, expected[0].data, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fused(x[:, 0])[0], oracle(x[:, 0])[0], rtol=1e-4, atol=1e-6)


def test_fused_gradcheck_float64():
    torch.manual_seed(3)
    lstm = lstmkit.LSTM(2, 3, proj_size=2, peephole=True, layer_norm=True, cifg=True,
                        bidirectional=True, engine="fused").double()  # fmt: skip
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    names = [n for n, _ in lstm.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in lstm.parameters()]

    def run(x, *params):
        out, (h, c) = torch.func.functional_call(
            lstm, dict(zip(names, params)), (x,), {"lengths": [4, 3]}
        )
        return out, h, c

    assert torch.autograd.gradcheck(run, (x, *params), eps=1e-6, atol=1e-7)


def test_large_inputs_saturate_without_nan_or_inf():
    oracle, fused = _twins(lstmkit.LSTM, 4, 16, torch.float32, layer_norm=True, peephole=True)
    x = (torch.randn(20, 4, 4) * 1e4).requires_grad_()
    out, (h, c) = fused(x)
    (out.sum() + c.sum()).backward()
    grads = [x.grad, *(p.grad for p in fused.parameters())]
    assert all(torch.isfinite(t).all() for t in [out, h, c, *grads])
    torch.testing.assert_close(out, oracle(x)[0], rtol=1e-4, atol=1e-5)
    gru_oracle, gru = _twins(lstmkit.GRU, 4, 16, torch.float32)
    torch.testing.assert_close(gru(x)[0], gru_oracle(x)[0], rtol=1e-4, atol=1e-5)


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    monkeypatch.setattr(lstmkit.engines.fused, "MIN_WORK_PER_THREAD", 1)
    _, fused = _twins(lstmkit.LSTM, 8, 24, torch.float32, peephole=True, layer_norm=True)
    x = torch.randn(12, 10, 8)
    results = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        fused.zero_grad()
        out, (h, c) = fused(x, lengths=list(range(3, 13)))
        (out.square().sum() + h.sum()).backward()
        results.append([out, h, c, *(p.grad.clone() for p in fused.parameters())])
    for other in results[1:]:
        for got, expected in zip(other, results[0]):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def _auto(layer, shape, grad=False, threads=2, record=False, dtype=torch.float32):
    torch.set_num_threads(threads)
    with torch.set_grad_enabled(grad):
        return engine_for(layer.spec(), torch.zeros(shape, dtype=dtype), record).name


def test_auto_picks_what_the_selection_rule_claims(monkeypatch):
    """The rule documented in engines/select.py, on representative configurations."""
    monkeypatch.setattr(select, "fused_is_fast", lambda: True)  # AVX2 or AVX-512 kernels
    lstm = lstmkit.LSTM(32, 128)
    assert _auto(lstmkit.LSTM(3, 4), (5, 2, 3)) == "native"  # tiny: overhead-bound
    assert _auto(lstm, (100, 1, 32)) == "fused"  # batch 1 on 2 threads: units split
    assert _auto(lstm, (100, 1, 32), grad=True) == "fused"
    assert _auto(lstm, (100, 1, 32), threads=1) == "native"
    assert _auto(lstm, (100, 32, 32)) == "fused"  # 2 threads: no per-step barrier
    assert _auto(lstm, (100, 32, 32), threads=1) == "native"  # oneDNN, one thread
    assert _auto(lstm, (100, 32, 32), grad=True, threads=1) == "fused"  # training step
    big = lstmkit.LSTM(64, 256)
    assert _auto(big, (200, 64, 64), threads=1) == "native"
    huge = lstmkit.LSTM(128, 512)
    assert _auto(huge, (50, 128, 128), grad=True) == "fused"
    assert _auto(huge, (50, 1, 128)) == "fused"  # batch 1: the hidden units split
    assert _auto(lstmkit.LSTM(32, 128, proj_size=64), (100, 32, 32)) == "fused"
    assert _auto(lstm.double(), (100, 32, 32), dtype=torch.float64) == "fused"
    assert _auto(lstmkit.GRU(32, 128), (100, 32, 32)) == "fused"  # torch's CPU GRU is slow
    assert _auto(lstmkit.RNN(32, 128), (100, 32, 32), grad=True) == "fused"
    for kw in LSTM_VARIANTS[1:]:  # every variant, even tiny; proj_size alone torch runs
        expected = "native" if kw == dict(proj_size=3) else "fused"
        assert _auto(lstmkit.LSTM(3, 4, **kw).train(), (5, 2, 3), grad=True) == expected
    assert _auto(lstmkit.LSTM(3, 4, layer_norm=True), (5, 2, 3), record=True) == "autograd"
    eval_noise = lstmkit.LSTM(32, 128, recurrent_dropout=0.3, weight_drop=0.3).eval()
    assert _auto(eval_noise, (100, 32, 32), threads=1) == "native"  # eval: the plain equations


def test_auto_avoids_the_fused_engine_where_its_kernels_are_slow(monkeypatch):
    """Kernels without 256-bit FMA vectors are unmeasured (AVX2 ran 4-16x slower than torch
    before its own vector width): native, then autograd, the fused engine only if asked."""
    monkeypatch.setattr(select, "fused_is_fast", lambda: False)
    assert _auto(lstmkit.LSTM(32, 128), (100, 32, 32), grad=True) == "native"
    assert _auto(lstmkit.GRU(32, 128), (100, 32, 32)) == "native"
    assert _auto(lstmkit.LSTM(3, 4, layer_norm=True), (5, 2, 3)) == "autograd"
    explicit = lstmkit.LSTM(3, 4, layer_norm=True, engine="fused")
    assert engine_for(explicit.spec(), torch.zeros(5, 2, 3), False).name == "fused"


def test_the_kernels_are_built_for_the_vectors_of_this_cpu():
    """kernel_target against /proc/cpuinfo: a build falling back to baseline flags fails here."""
    bits, fma = fused_build.kernel_target()
    flags = fused_build._cpu_flags().split()
    if "avx512f" in flags:
        assert (bits, fma) == (512, True)
    elif "avx2" in flags and "fma" in flags:
        assert (bits, fma) == (256, True)
    else:
        assert bits >= 128
    assert fused_build.kernel_target("gru", torch.float64) == (bits, fma)


@pytest.mark.parametrize(
    "target, fast",
    [((512, True), True), ((256, True), True), ((256, False), False), ((128, True), False)],
)
def test_fused_is_fast_only_with_wide_fma_vectors(monkeypatch, target, fast):
    monkeypatch.setattr(fused_build, "kernel_target", lambda: target)
    assert select.fused_is_fast() is fast


def test_fused_is_not_fast_without_kernels(monkeypatch):
    def unavailable():
        raise fused_build.KernelUnavailable("no compiler")

    monkeypatch.setattr(fused_build, "kernel_target", unavailable)
    assert select.fused_is_fast() is False


def test_explicit_fused_without_a_compiler_says_why(monkeypatch):
    monkeypatch.setenv("LSTMKIT_NO_COMPILE", "1")
    monkeypatch.setattr(fused_build, "_loaded", {})
    monkeypatch.setattr(fused_build, "_failed", {})
    layer = lstmkit.LSTM(3, 4, peephole=True, engine="fused")
    with pytest.raises(ValueError, match='engine="fused" cannot run.*LSTMKIT_NO_COMPILE is set'):
        layer(torch.randn(5, 2, 3))
    layer.engine = "auto"  # falls back quietly to the step-by-step engine
    assert engine_for(layer.spec(), torch.randn(5, 2, 3), False).name == "autograd"


def test_fused_refuses_cuda_half_and_recording():
    layer = lstmkit.LSTM(3, 4, engine="fused")
    half = torch.randn(5, 2, 3, dtype=torch.bfloat16)
    reason = lstmkit.engines.fused.FUSED.unsupported(layer.spec(), half, False)
    assert "float32 and float64, not torch.bfloat16" in reason  # the kernels themselves
    # ... while a bfloat16 layer runs them in float32 (engines/precision.py, test_bf16.py)
    assert layer.to(torch.bfloat16)(half)[0].dtype == torch.bfloat16
    with pytest.raises(ValueError, match="recording gates needs a step-by-step engine"):
        layer.float()(torch.randn(5, 2, 3), return_gates=True)


def test_import_compiles_nothing_and_later_processes_reuse_the_cache():
    lstmkit.LSTM(2, 3, engine="fused")(torch.randn(3, 1, 2))  # this process built (or found) it
    script = textwrap.dedent(
        """
        import subprocess, time
        import lstmkit
        from lstmkit.engines import fused_build
        assert not fused_build._loaded, "import lstmkit loaded a kernel"
        def no_compiler(*args, **kwargs):
            raise AssertionError(f"compiled again: {args}")
        subprocess.run = no_compiler
        import torch
        layer = lstmkit.LSTM(2, 3, engine="fused")
        x = torch.randn(3, 1, 2)
        t0 = time.perf_counter()
        layer(x)
        print(time.perf_counter() - t0)
        """
    )
    env = dict(os.environ, PYTHONWARNINGS="error")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    first_call = float(done.stdout)
    assert first_call < 0.5, f"first fused call took {first_call:.2f} s with a warm cache"


def test_speed_benchmark_runs_and_writes_json(tmp_path):
    from lstmkit.bench.speed import Shape, run_benchmark, write_json
    from lstmkit.cli import main

    lines = []
    results = run_benchmark(
        (Shape(2, 4, 3, 8),), ("plain", "cifg", "gru"), budget_s=0.01, echo=lines.append
    )
    assert [(r.row, r.mode) for r in results][:2] == [("plain", "inference"), ("plain", "train")]
    assert len(results) == len(lines) == 6
    assert all(set(r.ms) == {"torch", "eager", "auto", "fused"} and r.ms_min for r in results)
    write_json(results, str(tmp_path / "speed.json"))
    assert '"machine"' in (tmp_path / "speed.json").read_text()
    assert main(["bench", "speed", "--shapes", "9"]) == 2  # a clear error, not a traceback
    with pytest.raises(ValueError, match="unknown benchmark rows"):
        run_benchmark(rows=("lstm",))


def test_auto_runs_variable_lengths_on_the_fused_engine(monkeypatch):
    """torch's packed path leaves oneDNN, so with lengths the fused kernels win (select.py)."""
    monkeypatch.setattr(select, "fused_is_fast", lambda: True)  # AVX2 or AVX-512 kernels
    lstm = lstmkit.LSTM(2, 64)
    x = torch.randn(100, 32, 2)
    lengths = torch.full((32,), 90)
    assert engine_for(lstm.spec(), x, record=False, lengths=lengths).name == "fused"
    out, (h, _) = lstm(x, lengths=lengths)
    native = lstmkit.LSTM(2, 64, engine="native")
    native.load_state_dict(lstm.state_dict())
    ref, (h_ref, _) = native(x, lengths=lengths)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h, h_ref, rtol=1e-4, atol=1e-5)
