"""Bad input to the layers gets an error that names what was wrong and how to fix it."""

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import lstmkit


@pytest.fixture
def lstm():
    return lstmkit.LSTM(3, 4, num_layers=2)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"3-D input \(seq_len, batch, input_size\).*got a 4-D"):
        lstm(torch.randn(2, 3, 4, 3))
    with pytest.raises(ValueError, match=r"got a 1-D tensor of shape \(3,\)"):
        lstm(torch.randn(3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match="built with input_size=3 but the input has 5 features"):
        lstm(torch.randn(4, 2, 5))


def test_integer_input(lstm):
    with pytest.raises(
        TypeError, match=r"floating-point input, got dtype torch.int64.*\.float\(\)"
    ):
        lstm(torch.ones(4, 2, 3, dtype=torch.int64))


def test_mismatched_dtype(lstm):
    with pytest.raises(TypeError, match=r"input dtype torch.float64 does not match .*float32"):
        lstm(torch.randn(4, 2, 3, dtype=torch.float64))


def test_not_a_tensor(lstm):
    with pytest.raises(TypeError, match="expects a Tensor or a PackedSequence.*got list"):
        lstm([[1.0, 2.0, 3.0]])


def test_no_time_steps(lstm):
    with pytest.raises(ValueError, match="no time steps"):
        lstm(torch.randn(0, 2, 3))


def test_wrong_state_shape(lstm):
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 2, 4\).*got \(1, 2, 4\)"):
        lstm(x, (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"c_0 must have shape \(2, 2, 4\).*got \(2, 3, 4\)"):
        lstm(x, (torch.zeros(2, 2, 4), torch.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match=r"hx as a tuple \(h_0, c_0\)"):
        lstm(x, torch.zeros(2, 2, 4))
    with pytest.raises(TypeError, match="h_0 has dtype torch.float64 but the input has"):
        lstm(x, (torch.zeros(2, 2, 4, dtype=torch.float64), torch.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(2, 4\)"):
        lstm(torch.randn(5, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 2, 4)))
    gru = lstmkit.GRU(3, 4)
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 2, 4\)"):
        gru(x, torch.zeros(1, 5, 4))


def test_bad_lengths(lstm):
    x = torch.randn(5, 3, 3)
    with pytest.raises(ValueError, match="lengths has 2 entries but the batch has 3 sequences"):
        lstm(x, lengths=[5, 4])
    with pytest.raises(ValueError, match="lengths go up to 6 but the input has only 5 time steps"):
        lstm(x, lengths=[6, 4, 2])
    with pytest.raises(ValueError, match=r"at least 1, got \[5, 0, 2\]"):
        lstm(x, lengths=[5, 0, 2])
    with pytest.raises(ValueError, match=r"at least 1, got \[5, -1, 2\]"):
        lstm(x, lengths=torch.tensor([5, -1, 2]))
    with pytest.raises(TypeError, match="lengths must hold integers, got a tensor of dtype"):
        lstm(x, lengths=torch.tensor([5.0, 4.0, 2.0]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        lstm(x, lengths=[5, 4.5, 2])
    packed = pack_padded_sequence(x, [5, 4, 2])
    with pytest.raises(ValueError, match="both a PackedSequence and lengths="):
        lstm(packed, lengths=[5, 4, 2])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(recurrent_dropout=1.0), ValueError, r"recurrent_dropout must be in \[0, 1\)"),
        (dict(zoneout=-0.1), ValueError, r"zoneout must be in \[0, 1\), got -0.1"),
        (dict(zoneout=(0.1, 0.2, 0.3)), ValueError, "one rate or 2 rates"),
        (dict(weight_drop=1.5), ValueError, r"weight_drop must be in \[0, 1\)"),
        (dict(weight_drop="high"), TypeError, "weight_drop must be a number"),
        (dict(init="chrono"), ValueError, "init='chrono' needs t_max > 2"),
        (dict(init="orthogonal"), ValueError, "init must be one of"),
        (dict(t_max=10), ValueError, "t_max is only used with init='chrono'"),
        (dict(forget_bias=1.0, bias=False), ValueError, "need bias=True"),
        (dict(engine="cuda"), ValueError, "engine must be one of"),
        (dict(proj_size=4), ValueError, "proj_size has to be smaller than hidden_size"),
        (dict(dropout=1.5, num_layers=2), ValueError, r"dropout should be a number in range"),
        (dict(num_layers=0), ValueError, "num_layers must be at least 1, got 0"),
    ],
)
def test_invalid_constructor_arguments(kwargs, error, message):
    options = dict(input_size=3, hidden_size=4) | kwargs
    with pytest.raises(error, match=message):
        lstmkit.LSTM(**options)


@pytest.mark.parametrize("option", ["cifg", "peephole", "layer_norm", "forget_bias"])
def test_lstm_only_variants_on_gru_and_rnn(option):
    with pytest.raises(ValueError, match=f"GRU has no option '{option}'.*LSTM variants"):
        lstmkit.GRU(3, 4, **{option: 1})
    with pytest.raises(ValueError, match=f"RNN has no option '{option}'"):
        lstmkit.RNN(3, 4, **{option: 1})
    with pytest.raises(ValueError, match=f"GRUCell has no option '{option}'"):
        lstmkit.GRUCell(3, 4, **{option: 1})


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden'"):
        lstmkit.GRU(3, 4, hidden=5)


def test_cell_errors():
    cell = lstmkit.LSTMCell(3, 4)
    with pytest.raises(ValueError, match="built with input_size=3 but the input has 2"):
        cell(torch.randn(2, 2))
    with pytest.raises(ValueError, match=r"each state must have shape \(2, 4\), got \(2, 5\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 5), torch.zeros(2, 5)))
    with pytest.raises(TypeError, match="input dtype torch.int64"):
        cell(torch.ones(2, 3, dtype=torch.int64))
