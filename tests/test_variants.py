"""The LSTM variants, initialisations, gate recording and engine selection."""

import math

import pytest
import torch

import lstmkit
from lstmkit.engines.select import engine_for

VARIANTS = [
    dict(peephole=True),
    dict(cifg=True),
    dict(layer_norm=True),
    dict(peephole=True, cifg=True, layer_norm=True),
    dict(recurrent_dropout=0.3),
    dict(zoneout=0.2),
    dict(zoneout=(0.1, 0.4)),
    dict(weight_drop=0.3),
]


def _inputs(steps=4, batch=2, size=3, dtype=torch.float64):
    return torch.randn(steps, batch, size, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("kw", VARIANTS, ids=str)
def test_variant_gradcheck_float64(kw):
    """torch.autograd.gradcheck through the layer, with the random masks held fixed by a seed."""
    torch.manual_seed(0)
    lstm = lstmkit.LSTM(2, 2, num_layers=2, bidirectional=True, **kw).double()
    x = _inputs(steps=3, size=2)
    h0 = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)

    def run(x, h0, c0, *params):
        torch.manual_seed(1)  # the same dropout/zoneout masks at every evaluation
        out, (h, c) = torch.func.functional_call(
            lstm, dict(zip(names, params)), (x, (h0, c0)), {"lengths": [3, 2]}
        )
        return out, h, c

    names = [n for n, _ in lstm.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in lstm.parameters()]
    assert torch.autograd.gradcheck(run, (x, h0, c0, *params), eps=1e-6, atol=1e-6, fast_mode=True)


@pytest.mark.parametrize(
    "kw",
    [
        dict(peephole=False),
        dict(recurrent_dropout=0.0),
        dict(zoneout=0.0),
        dict(weight_drop=0.0),
        dict(forget_bias=0.0),
        dict(layer_norm=False),
    ],
    ids=str,
)
def test_neutral_setting_equals_the_plain_lstm(kw):
    torch.manual_seed(2)
    plain = torch.nn.LSTM(3, 4).double()
    ours = lstmkit.LSTM(3, 4, engine="autograd", **kw).double()
    ours.load_state_dict(plain.state_dict())
    x = _inputs()
    torch.testing.assert_close(ours(x)[0], plain(x)[0], atol=1e-12, rtol=0)


def test_zero_peepholes_equal_the_plain_lstm():
    torch.manual_seed(3)
    plain = torch.nn.LSTM(3, 4).double()
    ours = lstmkit.LSTM(3, 4, peephole=True).double()
    ours.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        ours.weight_ch_l0.zero_()
    x = _inputs()
    torch.testing.assert_close(ours(x)[0], plain(x)[0], atol=1e-12, rtol=0)


def test_cifg_is_an_lstm_whose_forget_gate_mirrors_the_input_gate():
    """σ(-a) = 1 - σ(a): a torch LSTM with W_f = -W_i and b_f = -b_i computes CIFG."""
    torch.manual_seed(4)
    ours = lstmkit.LSTM(3, 4, cifg=True).double()
    theirs = torch.nn.LSTM(3, 4).double()
    H = 4
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            i, g, o = getattr(ours, name).split(H)
            getattr(theirs, name).copy_(torch.cat([i, -i, g, o]))
    x = _inputs()
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-12, rtol=0)


def test_layer_norm_normalises_each_gate_group():
    torch.manual_seed(5)
    lstm = lstmkit.LSTM(3, 6, layer_norm=True).double()
    with torch.no_grad():
        lstm.bias_ih_l0.zero_()
        lstm.bias_hh_l0.zero_()
    x = _inputs(steps=1)
    _, _, gates = lstm(x, return_gates=True)
    # With unit gain and zero bias, the g pre-activation has zero mean and unit variance,
    # so g = tanh(a_g) has mean ~0 over the 6 units.
    a_g = torch.atanh(gates["g"][0, 0])
    torch.testing.assert_close(a_g.mean(-1), torch.zeros(2, dtype=torch.float64), atol=1e-9,
                               rtol=0)  # fmt: skip
    torch.testing.assert_close(a_g.var(-1, unbiased=False), torch.ones(2, dtype=torch.float64),
                               atol=1e-3, rtol=0)  # fmt: skip


@pytest.mark.parametrize("kw", [dict(recurrent_dropout=0.5), dict(zoneout=0.5),
                                dict(weight_drop=0.5)], ids=str)  # fmt: skip
def test_dropout_like_variants_are_random_in_training_and_deterministic_in_eval(kw):
    torch.manual_seed(6)
    lstm = lstmkit.LSTM(3, 8, **kw)
    x = torch.randn(6, 2, 3)
    assert not torch.equal(lstm(x)[0], lstm(x)[0])
    lstm.eval()
    assert torch.equal(lstm(x)[0], lstm(x)[0])


def test_recurrent_dropout_and_weight_drop_in_eval_are_the_plain_lstm():
    torch.manual_seed(7)
    plain = torch.nn.LSTM(3, 4).double().eval()
    ours = lstmkit.LSTM(3, 4, recurrent_dropout=0.5, weight_drop=0.5).double().eval()
    ours.load_state_dict(plain.state_dict())
    x = _inputs()
    torch.testing.assert_close(ours(x)[0], plain(x)[0], atol=1e-12, rtol=0)
    assert engine_for(ours.spec(), x, record=False).name == "native"


def test_zoneout_in_eval_uses_the_expectation():
    torch.manual_seed(8)
    z_h, z_c = 0.25, 0.6
    lstm = lstmkit.LSTM(3, 4, zoneout=(z_h, z_c)).double().eval()
    cell = lstmkit.LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = _inputs()
    out, _ = lstm(x)
    h = c = torch.zeros(2, 4, dtype=torch.float64)
    for t in range(x.shape[0]):
        h_new, c_new = cell(x[t], (h, c))
        h, c = z_h * h + (1 - z_h) * h_new, z_c * c + (1 - z_c) * c_new
        torch.testing.assert_close(out[t], h, atol=1e-12, rtol=0)


def test_recurrent_dropout_mask_is_one_per_sequence():
    """Variational dropout: with H=1 and rate 0.5 a sequence's unit is either dropped at every
    step or at none, so the recurrent contribution is all-or-nothing per sequence."""
    torch.manual_seed(9)
    lstm = lstmkit.LSTM(1, 1, recurrent_dropout=0.5, bias=False).double()
    with torch.no_grad():
        lstm.weight_ih_l0.zero_()
        lstm.weight_hh_l0.fill_(1.0)
    h0 = torch.full((1, 64, 1), 0.5, dtype=torch.float64)
    c0 = torch.full((1, 64, 1), 1.0, dtype=torch.float64)
    out, _ = lstm(torch.zeros(5, 64, 1, dtype=torch.float64), (h0, c0))
    deaf = lstmkit.LSTM(1, 1, bias=False).double()  # no recurrent input at all
    with torch.no_grad():
        deaf.weight_ih_l0.zero_()
        deaf.weight_hh_l0.zero_()
    without = deaf(torch.zeros(5, 64, 1, dtype=torch.float64), (h0, c0))[0]
    dropped_at = torch.isclose(out, without).squeeze(-1)  # (T, B)
    dropped = dropped_at.all(0)
    assert torch.equal(dropped_at.any(0), dropped)  # never dropped at some steps only
    assert 10 < int(dropped.sum()) < 54  # about half the sequences


def test_forget_bias_is_added_to_the_forget_gate():
    torch.manual_seed(10)
    ref = lstmkit.LSTM(3, 4)
    torch.manual_seed(10)
    lstm = lstmkit.LSTM(3, 4, forget_bias=1.0)
    delta = (lstm.bias_ih_l0 + lstm.bias_hh_l0 - ref.bias_ih_l0 - ref.bias_hh_l0).detach()
    torch.testing.assert_close(delta, torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8))


def test_chrono_initialisation():
    torch.manual_seed(11)
    lstm = lstmkit.LSTM(3, 500, init="chrono", t_max=100)
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach()
    b_i, b_f = b[:500], b[500:1000]
    assert torch.all(b_f >= 0) and torch.all(b_f <= math.log(99) + 1e-6)
    torch.testing.assert_close(b_i, -b_f)
    # log of a uniform on [1, 99]: its mean is (99 log 99 - 99 - (0 - 1)) / 98 ≈ 3.65
    assert abs(b_f.mean().item() - 3.65) < 0.1
    cifg = lstmkit.LSTM(3, 50, cifg=True, init="chrono", t_max=10)
    assert torch.all(cifg.bias_ih_l0[:50] + cifg.bias_hh_l0[:50] <= 0)


def test_gate_recording_shapes_and_consistency():
    torch.manual_seed(12)
    lstm = lstmkit.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, proj_size=2)
    x = torch.randn(3, 5, 3)
    lengths = [5, 2, 4]
    out, (_h_n, c_n), gates = lstm(x, lengths=lengths, return_gates=True)
    assert set(gates) == {"i", "f", "g", "o", "c", "h"}
    for name in "ifgoc":
        assert gates[name].shape == (4, 3, 5, 4)
    assert gates["h"].shape == (4, 3, 5, 2)
    assert torch.all((gates["i"] >= 0) & (gates["i"] <= 1))
    # the last layer's recorded h is the output; the forward direction's c at the last valid
    # step is c_n; steps past a length are zero
    torch.testing.assert_close(gates["h"][2], out[..., :2])
    torch.testing.assert_close(gates["h"][3], out[..., 2:])
    for b, n in enumerate(lengths):
        torch.testing.assert_close(gates["c"][2, b, n - 1], c_n[2, b])
        torch.testing.assert_close(gates["c"][3, b, 0], c_n[3, b])
        assert torch.all(gates["f"][:, b, n:] == 0)
    # recording does not change the result
    out2, _ = lstm(x, lengths=lengths)
    torch.testing.assert_close(out, out2)


def test_gru_records_its_gates():
    gru = lstmkit.GRU(3, 4)
    _, _, gates = gru(torch.randn(5, 2, 3), return_gates=True)
    assert set(gates) == {"r", "z", "n", "h"} and gates["z"].shape == (1, 5, 2, 4)


def test_auto_picks_native_for_plain_and_autograd_for_variants():
    x = torch.randn(3, 2, 3)
    assert engine_for(lstmkit.LSTM(3, 4).spec(), x, record=False).name == "native"
    assert engine_for(lstmkit.GRU(3, 4).spec(), x, record=False).name == "native"
    assert engine_for(lstmkit.LSTM(3, 4).spec(), x, record=True).name != "native"
    for kw in [*VARIANTS[:4], dict(zoneout=0.1)]:
        assert engine_for(lstmkit.LSTM(3, 4, **kw).spec(), x, record=False).name != "native"
    trained = lstmkit.LSTM(3, 4, recurrent_dropout=0.2)
    assert engine_for(trained.spec(), x, record=False).name != "native"


def test_asking_native_for_a_variant_raises():
    lstm = lstmkit.LSTM(3, 4, peephole=True, engine="native")
    with pytest.raises(ValueError, match='engine="native" cannot run this configuration'):
        lstm(torch.randn(3, 2, 3))


def test_cell_recurrent_dropout_mask_is_kept_until_reset():
    torch.manual_seed(13)
    cell = lstmkit.LSTMCell(2, 16, recurrent_dropout=0.5)
    x, hx = torch.randn(4, 2), (torch.randn(4, 16), torch.randn(4, 16))
    a, b = cell(x, hx)[0], cell(x, hx)[0]
    assert torch.equal(a, b)
    cell.reset_masks()
    assert not torch.equal(cell(x, hx)[0], a)
