"""Properties that hold for any configuration (hypothesis draws the configurations)."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import lstmkit

configs = st.fixed_dictionaries(
    {
        "input_size": st.integers(1, 4),
        "hidden_size": st.integers(2, 5),
        "num_layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "peephole": st.booleans(),
        "cifg": st.booleans(),
        "layer_norm": st.booleans(),
        "engine": st.sampled_from(["auto", "autograd"]),
    }
)


@settings(max_examples=15, deadline=None)
@given(kw=configs, steps=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_unbatched_equals_a_batch_of_one(kw, steps, seed):
    torch.manual_seed(seed)
    lstm = lstmkit.LSTM(**kw).double()
    x = torch.randn(steps, kw["input_size"], dtype=torch.float64)
    out, (h, c) = lstm(x)
    out1, (h1, c1) = lstm(x.unsqueeze(1))
    torch.testing.assert_close(out, out1.squeeze(1), atol=1e-12, rtol=0)
    torch.testing.assert_close(h, h1.squeeze(1), atol=1e-12, rtol=0)
    torch.testing.assert_close(c, c1.squeeze(1), atol=1e-12, rtol=0)


@settings(max_examples=15, deadline=None)
@given(kw=configs, steps=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_batch_first_is_a_transpose(kw, steps, seed):
    torch.manual_seed(seed)
    lstm = lstmkit.LSTM(**kw).double()
    other = lstmkit.LSTM(**kw, batch_first=True).double()
    other.load_state_dict(lstm.state_dict())
    x = torch.randn(steps, 3, kw["input_size"], dtype=torch.float64)
    torch.testing.assert_close(other(x.transpose(0, 1))[0].transpose(0, 1), lstm(x)[0])


@settings(max_examples=10, deadline=None)
@given(kw=configs, seed=st.integers(0, 2**16))
def test_save_and_load_give_identical_outputs(kw, seed, tmp_path_factory):
    torch.manual_seed(seed)
    lstm = lstmkit.LSTM(**kw)
    path = tmp_path_factory.mktemp("weights") / "lstm.safetensors"
    save_file(lstm.state_dict(), path)
    again = lstmkit.LSTM(**kw)
    again.load_state_dict(load_file(path))
    x = torch.randn(4, 2, kw["input_size"])
    assert torch.equal(lstm(x)[0], again(x)[0])
