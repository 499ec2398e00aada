"""The tagger's nn parts against torch: the unpacked BiLSTM and the character word features."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstmkit.nn.bilstm import PaddedBiLSTM, reverse_padded
from lstmkit.nn.char_words import CharWordEncoder


def test_reverse_padded_reverses_valid_steps_only():
    x = torch.arange(12.0).view(2, 3, 2)
    out = reverse_padded(x, torch.tensor([3, 2]))
    assert out[0].tolist() == [[4, 5], [2, 3], [0, 1]]
    assert out[1].tolist() == [[8, 9], [6, 7], [10, 11]]  # the padded step stays in place
    torch.testing.assert_close(reverse_padded(out, torch.tensor([3, 2])), x)


def test_padded_bilstm_equals_torch_packed_bidirectional():
    torch.manual_seed(0)
    reference = torch.nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = PaddedBiLSTM(5, 7, num_layers=2).double()
    ours.load_bidirectional(reference)
    x = torch.randn(4, 6, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 1, 4])
    x[1, 3:] = 99.0  # padding must not leak into the valid steps
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    expected, _ = pad_packed_sequence(reference(packed)[0], batch_first=True, total_length=6)
    got = ours(x, lengths)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    assert (got[1, 3:] == 0).all()
    # Gradients flow to both directions' weights.
    got.sum().backward()
    assert ours.backward_layers[1].weight_hh_l0.grad.abs().sum() > 0


def test_char_word_encoder_equals_each_word_run_alone():
    torch.manual_seed(1)
    enc = CharWordEncoder(num_chars=20, char_dim=4, hidden_size=6).double()
    reference = torch.nn.LSTM(4, 6, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for name, param in reference.named_parameters():
            layer = (
                enc.rnn.backward_layers[0]
                if name.endswith("_reverse")
                else enc.rnn.forward_layers[0]
            )
            param.copy_(getattr(layer, name.removesuffix("_reverse")))
    chars = torch.randint(1, 20, (3, 5))
    lengths = torch.tensor([5, 2, 1])
    chars[1, 2:] = 0
    chars[2, 1:] = 0
    out = enc(chars, lengths)
    for w, n in enumerate(lengths.tolist()):
        _, (h_n, _) = reference(enc.embedding(chars[w : w + 1, :n]))
        torch.testing.assert_close(out[w], torch.cat([h_n[0, 0], h_n[1, 0]]))
