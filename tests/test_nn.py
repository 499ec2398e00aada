"""lstmkit.nn: encoder against torch, pooling against hand computation, the language model,
its stream objective and the sampling loop against brute force."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lstmkit.data.batching import StreamBatches
from lstmkit.nn import (
    POOLINGS,
    AdditiveAttentionPool,
    LanguageModel,
    Pooling,
    SequenceEncoder,
    generate_ids,
    stream_nats,
    stream_objective,
    valid_mask,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def random_batch(batch=4, steps=7, width=5, seed=None):
    g = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(9999, ())))
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps  # one full-length sequence, so the padded width is `steps`
    out = torch.randn(batch, steps, width, generator=g)
    return out * valid_mask(lengths, steps)[..., None], lengths  # zero past each length


# -- pooling ---------------------------------------------------------------------------------
def test_mean_and_max_pooling_equal_the_hand_computation_per_sequence():
    out, lengths = random_batch()
    mean, top = Pooling("mean", 5)(out, lengths), Pooling("max", 5)(out, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(mean[i], out[i, :n].mean(0))
        # Outputs past the length are zero: a max that looked there would be >= 0.
        torch.testing.assert_close(top[i], out[i, :n].max(0).values)


def test_max_pooling_ignores_padding_even_when_every_valid_value_is_negative():
    out = -torch.rand(2, 4, 3) - 1.0
    lengths = torch.tensor([4, 2])
    out[1, 2:] = 0.0
    assert (Pooling("max", 3)(out, lengths) < -0.9).all()


def test_last_pooling_returns_the_given_final_states_and_needs_them():
    out, lengths = random_batch()
    h_last = torch.randn(4, 5)
    assert torch.equal(Pooling("last", 5)(out, lengths, h_last), h_last)
    with pytest.raises(ValueError, match='pooling "last" needs the final hidden states'):
        Pooling("last", 5)(out, lengths)
    with pytest.raises(ValueError, match=r"pooling must be one of .*got 'sum'"):
        Pooling("sum", 5)


def test_attention_equals_a_softmax_over_each_sequence_alone():
    torch.manual_seed(0)
    out, lengths = random_batch(width=6)
    pool = Pooling("attention", 6)
    pooled = pool(out, lengths)
    score = pool.attend.score
    for i, n in enumerate(lengths.tolist()):
        weights = score(out[i, :n]).squeeze(-1).softmax(0)  # (n,): only the valid steps
        torch.testing.assert_close(pooled[i], (weights[:, None] * out[i, :n]).sum(0))


def test_attention_weights_are_exactly_zero_past_each_length_and_sum_to_one():
    out, lengths = random_batch(batch=6, steps=9, width=4)
    weights = AdditiveAttentionPool(4).weights(out, lengths)
    past = ~valid_mask(lengths, 9)
    assert past.any() and (weights[past] == 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(6))


# -- the encoder -----------------------------------------------------------------------------
def test_token_encoder_equals_torch_embedding_and_lstm_with_the_same_weights():
    torch.manual_seed(0)
    enc = SequenceEncoder(vocab_size=11, embedding_dim=6, hidden_size=5, num_layers=2,
                          bidirectional=True).eval()  # fmt: skip
    lstm = torch.nn.LSTM(6, 5, num_layers=2, bidirectional=True, batch_first=True)
    lstm.load_state_dict(enc.rnn.state_dict())
    x = torch.randint(1, 11, (3, 8))
    out, (h, c) = enc(x)
    ref, (h_ref, c_ref) = lstm(enc.embedding(x))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c, c_ref)


def test_last_hidden_is_the_forward_last_valid_step_and_the_backward_first_step():
    torch.manual_seed(0)
    enc = SequenceEncoder(input_size=3, hidden_size=4, bidirectional=True).eval()
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    out, (h_n, _) = enc(x, lengths)
    last = enc.last_hidden(h_n)  # (B, 2H)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(last[i, :4], out[i, n - 1, :4])
        torch.testing.assert_close(last[i, 4:], out[i, 0, 4:])


@pytest.mark.parametrize("mode", POOLINGS)
def test_encoder_and_pooling_ignore_padding(mode):
    torch.manual_seed(0)
    enc = SequenceEncoder(input_size=3, hidden_size=4, bidirectional=True).eval()
    pool = Pooling(mode, enc.output_size)
    x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])

    def pooled(inputs, lens):
        out, (h_n, _) = enc(inputs, lens)
        return pool(out, lens, enc.last_hidden(h_n))

    garbage = x.clone()
    garbage[~valid_mask(lengths, 6)] = 1e3
    torch.testing.assert_close(pooled(garbage, lengths), pooled(x, lengths))
    for i, n in enumerate(lengths.tolist()):
        alone = pooled(x[i : i + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(pooled(x, lengths)[i : i + 1], alone)


# -- the language model and its stream objective ----------------------------------------------
def test_language_model_is_its_hidden_states_through_the_decoder():
    torch.manual_seed(0)
    lm = LanguageModel(13, embedding_dim=6, hidden_size=8, num_layers=2, dropout=0.0).eval()
    x = torch.randint(0, 13, (2, 9))
    logits, (h, _) = lm(x)
    hidden, _ = lm.hidden(x)
    torch.testing.assert_close(logits, hidden @ lm.decoder.weight.T + lm.decoder.bias)
    assert h.shape == (2, 2, 8) and lm.config["vocab_size"] == 13
    # The embedding of a stream has no padding row: id 0 learns like any other.
    assert lm.embedding.padding_idx is None and lm.embedding.weight[0].abs().sum() > 0


def test_stream_objective_and_nats_equal_cross_entropy_over_the_whole_stream():
    torch.manual_seed(0)
    lm = LanguageModel(9, embedding_dim=4, hidden_size=6, num_layers=1, dropout=0.0).eval()
    ids = torch.randint(0, 9, (3 * 20 + 1,))
    stream = StreamBatches(ids, batch_size=3, bptt=7)
    with torch.no_grad():
        whole, _ = lm(stream.inputs)  # every column in one pass: the oracle
    expected = F.cross_entropy(whole.reshape(-1, 9), stream.targets.reshape(-1), reduction="sum")
    nats, tokens = stream_nats(lm, stream)
    assert tokens == stream.num_tokens == 60
    assert nats == pytest.approx(expected.item(), rel=1e-5)
    x, y = stream.chunk(0)
    loss, state = stream_objective(lm, (x, y), None)
    torch.testing.assert_close(loss, F.cross_entropy(whole[:, :7].reshape(-1, 9), y.reshape(-1)))
    assert state[0].shape == (1, 3, 6)


# -- the sampling loop -------------------------------------------------------------------------
def test_greedy_generation_equals_rerunning_the_whole_prefix_each_step():
    torch.manual_seed(1)
    lm = LanguageModel(10, embedding_dim=4, hidden_size=8, num_layers=2).train()
    prompt = [3, 5, 2]
    got = generate_ids(lm, prompt, 12, temperature=0)
    assert lm.training  # the mode is restored
    lm.eval()
    ids = list(prompt)
    for _ in range(12):  # no carried state: the whole prefix every time
        logits, _ = lm(torch.tensor([ids]))
        scores = logits[0, -1].clone()
        scores[0] = float("-inf")
        ids.append(int(scores.argmax()))
    assert got == ids[len(prompt) :]
    assert generate_ids(lm, prompt, 12, temperature=1.0, top_k=1, seed=7) == got


def test_sampling_is_seeded_and_never_produces_a_banned_token():
    torch.manual_seed(0)
    lm = LanguageModel(6, embedding_dim=4, hidden_size=4, num_layers=1)
    with torch.no_grad():
        lm.decoder.bias[:2] += 5.0  # ids 0 and 1 the most likely by far
    a = generate_ids(lm, [2], 200, temperature=1.5, seed=3, banned=(0, 1))
    assert a == generate_ids(lm, [2], 200, temperature=1.5, seed=3, banned=(0, 1))
    assert a != generate_ids(lm, [2], 200, temperature=1.5, seed=4, banned=(0, 1))
    assert not {0, 1} & set(a) and len(set(a)) > 1
    assert 1 in generate_ids(lm, [2], 50, temperature=1.0, seed=3)  # only <pad> banned
    with pytest.raises(ValueError, match="the prompt is empty"):
        generate_ids(lm, [], 5)
    with pytest.raises(ValueError, match=r"top_p must lie in \(0, 1\], got 0"):
        generate_ids(lm, [2], 5, top_p=0)
