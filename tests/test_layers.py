"""lstmkit's LSTM/GRU/RNN against torch.nn's: outputs, states and every gradient."""

import itertools
import random

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import lstmkit

ENGINES = ["native", "autograd"]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _pair(kind, dtype, engine, **kw):
    """A torch module and an lstmkit module with the same weights."""
    theirs = getattr(torch.nn, kind)(**kw).to(dtype)
    ours = getattr(lstmkit, kind)(**kw, engine=engine).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def _flat(result):
    """(output, state) with state a tensor or a tuple -> list of tensors."""
    out, state = result[0], result[1]
    out = out.data if isinstance(out, torch.nn.utils.rnn.PackedSequence) else out
    return [out, *(state if isinstance(state, tuple) else (state,))]


def _compare(theirs, ours, args, dtype, kwargs_ours=None):
    """Forward and backward through both with the same random upstream gradients."""
    tol = TOL[dtype]
    a = _flat(theirs(*args))
    b = _flat(ours(*args, **(kwargs_ours or {})))
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(y, x, atol=tol, rtol=tol)
    weights = [torch.randn_like(t) for t in a]
    grads_a = torch.autograd.grad(
        sum((t * w).sum() for t, w in zip(a, weights)), [*theirs.parameters(), *_leaves(args)]
    )
    grads_b = torch.autograd.grad(
        sum((t * w).sum() for t, w in zip(b, weights)), [*ours.parameters(), *_leaves(args)]
    )
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(gb, ga, atol=tol * 10, rtol=tol * 10)


def _leaves(args):
    found = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            found.append(a)
        elif isinstance(a, tuple):
            found += _leaves(a)
        elif isinstance(a, torch.nn.utils.rnn.PackedSequence) and a.data.requires_grad:
            found.append(a.data)
    return found


def _configs(kind, count, seed):
    rng = random.Random(seed)
    for _ in range(count):
        kw = dict(
            input_size=rng.randint(1, 6),
            hidden_size=rng.randint(2, 7),
            num_layers=rng.randint(1, 3),
            bias=rng.random() < 0.8,
            batch_first=rng.random() < 0.5,
            bidirectional=rng.random() < 0.5,
        )
        if kind == "LSTM" and rng.random() < 0.4:
            kw["proj_size"] = rng.randint(1, kw["hidden_size"] - 1)
        if kind == "RNN":
            kw["nonlinearity"] = rng.choice(["tanh", "relu"])
        yield kw, rng.randint(1, 7), rng.randint(1, 5)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_matches_torch_on_random_configurations(kind, engine, dtype):
    torch.manual_seed(0)
    for kw, steps, batch in _configs(kind, 5, seed=hash((kind, engine, str(dtype))) % 1000):
        theirs, ours = _pair(kind, dtype, engine, **kw)
        shape = (batch, steps, kw["input_size"]) if kw["batch_first"] else (steps, batch, kw[
            "input_size"])  # fmt: skip
        x = torch.randn(*shape, dtype=dtype, requires_grad=True)
        depth = kw["num_layers"] * (2 if kw["bidirectional"] else 1)
        h0 = torch.randn(depth, batch, kw.get("proj_size") or kw["hidden_size"], dtype=dtype,
                         requires_grad=True)  # fmt: skip
        if kind == "LSTM":
            c0 = torch.randn(depth, batch, kw["hidden_size"], dtype=dtype, requires_grad=True)
            _compare(theirs, ours, (x, (h0, c0)), dtype)
        else:
            _compare(theirs, ours, (x, h0), dtype)
        _compare(theirs, ours, (x,), dtype)  # default zero state


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_unbatched_input_matches_torch(kind, engine):
    torch.manual_seed(1)
    kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    theirs, ours = _pair(kind, torch.float64, engine, **kw)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(4, 4, dtype=torch.float64)
    hx = (h0, torch.randn(4, 4, dtype=torch.float64)) if kind == "LSTM" else h0
    _compare(theirs, ours, (x, hx), torch.float64)
    out, _ = ours(x)
    assert out.shape == (5, 8)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence_in_and_out_matches_torch(kind, engine, enforce_sorted):
    torch.manual_seed(2)
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    if kind == "LSTM":
        kw["proj_size"] = 2
    theirs, ours = _pair(kind, torch.float64, engine, **kw)
    lengths = [6, 4, 4, 1] if enforce_sorted else [4, 6, 1, 4]
    x = torch.randn(6, 4, 3, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    _compare(theirs, ours, (packed,), torch.float64)
    out = ours(packed)[0]
    ref = theirs(packed)[0]
    assert torch.equal(out.batch_sizes, ref.batch_sizes)
    for a, b in ((out.sorted_indices, ref.sorted_indices), (out.unsorted_indices,
                                                            ref.unsorted_indices)):  # fmt: skip
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_lengths_equal_packing(kind, engine):
    """lengths= gives what torch gives on the packed batch, padded with zeros."""
    torch.manual_seed(3)
    kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
    theirs, ours = _pair(kind, torch.float64, engine, **kw)
    lengths = torch.tensor([2, 7, 5, 1, 7])
    x = torch.randn(5, 7, 3, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_out, ref_state = theirs(packed)
    ref_out, _ = pad_packed_sequence(ref_out, batch_first=True, total_length=7)
    out, state = ours(x, lengths=lengths)
    torch.testing.assert_close(out, ref_out, atol=1e-12, rtol=0)
    ref_states = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    states = state if isinstance(state, tuple) else (state,)
    for a, b in zip(ref_states, states, strict=True):
        torch.testing.assert_close(b, a, atol=1e-12, rtol=0)
    g_ref = torch.autograd.grad(ref_out.sum() + ref_states[0].sum(), x)[0]
    g = torch.autograd.grad(out.sum() + states[0].sum(), x)[0]
    torch.testing.assert_close(g, g_ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
def test_padding_never_changes_valid_outputs(engine):
    torch.manual_seed(4)
    lstm = lstmkit.LSTM(3, 4, bidirectional=True, engine=engine).double()
    x = torch.randn(6, 3, 3, dtype=torch.float64)
    lengths = [6, 3, 2]
    out, (h, c) = lstm(x, lengths=lengths)
    noisy = x.clone()
    for b, n in enumerate(lengths):
        noisy[n:, b] = 1e3 * torch.randn_like(noisy[n:, b])
    out2, (h2, c2) = lstm(noisy, lengths=lengths)
    assert torch.equal(out, out2) and torch.equal(h, h2) and torch.equal(c, c2)
    for b, n in enumerate(lengths):
        assert torch.all(out[n:, b] == 0)
        alone, (hb, _) = lstm(x[:n, b : b + 1])
        torch.testing.assert_close(out[:n, b : b + 1], alone, atol=1e-12, rtol=0)
        torch.testing.assert_close(h[:, b], hb[:, 0], atol=1e-12, rtol=0)


def test_lengths_accept_list_tensor_and_other_devices_types():
    lstm = lstmkit.LSTM(2, 3)
    x = torch.randn(4, 2, 2)
    a = lstm(x, lengths=[4, 2])[0]
    b = lstm(x, lengths=torch.tensor([4, 2], dtype=torch.int32))[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_state_dict_moves_both_ways(kind):
    torch.manual_seed(5)
    kw = dict(input_size=3, hidden_size=6, num_layers=2, bidirectional=True)
    if kind == "LSTM":
        kw["proj_size"] = 4
    ours = getattr(lstmkit, kind)(**kw)
    theirs = getattr(torch.nn, kind)(**kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (name, p), (name_t, p_t) in zip(ours.named_parameters(), theirs.named_parameters(),
                                        strict=True):  # fmt: skip
        assert name == name_t and p.shape == p_t.shape
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_same_seed_gives_torchs_initial_weights(kind):
    """Same initialisation distribution and order as torch, so seeded models coincide."""
    kw = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    torch.manual_seed(6)
    ours = getattr(lstmkit, kind)(**kw)
    torch.manual_seed(6)
    theirs = getattr(torch.nn, kind)(**kw)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_cells_match_torch_cells(kind):
    torch.manual_seed(7)
    theirs = getattr(torch.nn, kind + "Cell")(3, 4).double()
    ours = getattr(lstmkit, kind + "Cell")(3, 4).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64)
    hx = (h, torch.randn(2, 4, dtype=torch.float64)) if kind == "LSTM" else h
    a, b = theirs(x, hx), ours(x, hx)
    for u, v in zip(*(t if isinstance(t, tuple) else (t,) for t in (a, b)), strict=True):
        torch.testing.assert_close(v, u, atol=1e-12, rtol=0)
    unbatched = ours(x[0].detach())
    first = unbatched[0] if kind == "LSTM" else unbatched
    assert first.shape == (4,)


def test_inter_layer_dropout_is_active_only_in_training():
    torch.manual_seed(8)
    for engine in ENGINES:
        lstm = lstmkit.LSTM(3, 8, num_layers=2, dropout=0.5, engine=engine)
        x = torch.randn(5, 2, 3)
        assert not torch.equal(lstm(x)[0], lstm(x)[0])
        lstm.eval()
        assert torch.equal(lstm(x)[0], lstm(x)[0])


def test_dropout_on_a_single_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        lstmkit.LSTM(2, 3, dropout=0.3)


def test_layer_equals_stepping_the_cell_by_hand():
    """Flax's best test: the layer over time equals a hand loop over the cell's step."""
    torch.manual_seed(9)
    variants = [dict(), dict(peephole=True), dict(cifg=True), dict(layer_norm=True),
                dict(peephole=True, cifg=True, layer_norm=True)]  # fmt: skip
    for kw in variants:
        lstm = lstmkit.LSTM(3, 4, **kw).double()
        cell = lstmkit.LSTMCell(3, 4, **kw).double()
        cell.load_state_dict({k[: -len("_l0")]: v for k, v in lstm.state_dict().items()})
        x = torch.randn(6, 2, 3, dtype=torch.float64)
        out, (h_n, c_n) = lstm(x)
        h = c = torch.zeros(2, 4, dtype=torch.float64)
        for t in range(6):
            h, c = cell(x[t], (h, c))
            torch.testing.assert_close(out[t], h, atol=1e-12, rtol=0)
        torch.testing.assert_close(h_n[0], h, atol=1e-12, rtol=0)
        torch.testing.assert_close(c_n[0], c, atol=1e-12, rtol=0)


def test_reverse_direction_is_the_forward_layer_on_flipped_input():
    torch.manual_seed(10)
    bi = lstmkit.LSTM(3, 4, bidirectional=True).double()
    fwd = lstmkit.LSTM(3, 4).double()
    fwd.load_state_dict({k.replace("_reverse", ""): v for k, v in bi.state_dict().items()
                         if k.endswith("_reverse")})  # fmt: skip
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, (h, _) = bi(x)
    rev_out, (rev_h, _) = fwd(x.flip(0))
    torch.testing.assert_close(out[..., 4:], rev_out.flip(0), atol=1e-12, rtol=0)
    torch.testing.assert_close(h[1], rev_h[0], atol=1e-12, rtol=0)


def test_every_combination_of_layout_options_runs_on_both_engines():
    """A compact sweep that the engines agree with each other on all layout switches."""
    torch.manual_seed(11)
    for layers, bidir, bf, proj in itertools.product((1, 2), (False, True), (False, True), (0, 2)):
        kw = dict(num_layers=layers, bidirectional=bidir, batch_first=bf, proj_size=proj)
        a = lstmkit.LSTM(3, 4, **kw, engine="native").double()
        b = lstmkit.LSTM(3, 4, **kw, engine="autograd").double()
        b.load_state_dict(a.state_dict())
        x = torch.randn(3, 5, 3, dtype=torch.float64)
        for lengths in (None, [5, 2, 4] if bf else [3, 1, 2, 3, 3]):
            oa, (ha, ca) = a(x, lengths=lengths)
            ob, (hb, cb) = b(x, lengths=lengths)
            torch.testing.assert_close(ob, oa, atol=1e-12, rtol=0)
            torch.testing.assert_close(hb, ha, atol=1e-12, rtol=0)
            torch.testing.assert_close(cb, ca, atol=1e-12, rtol=0)
