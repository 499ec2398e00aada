"""Attention and the seq2seq model: padding gets exactly zero weight and changes nothing."""

import pytest
import torch

from lstmkit.nn.attention import ATTENTIONS, Attention
from lstmkit.nn.seq2seq import Seq2Seq

pytestmark = pytest.mark.usefixtures("one_thread")


def _mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("mode", ATTENTIONS)
def test_padded_positions_get_exactly_zero_weight_and_change_nothing(mode):
    torch.manual_seed(0)
    attend = Attention(mode, query_size=6, key_size=6).double()
    lengths = [5, 3, 1]
    keys = torch.randn(3, 5, 6, dtype=torch.float64)
    query = torch.randn(3, 4, 6, dtype=torch.float64)  # 4 decoder steps at once
    context, weights = attend(query, keys, _mask(lengths, 5))
    for b, n in enumerate(lengths):
        assert torch.all(weights[b, :, n:] == 0.0)
        assert torch.allclose(weights[b].sum(-1), torch.ones(4, dtype=torch.float64))
    # More padding, filled with garbage: same weights on the valid part, same context.
    wider = torch.cat([keys, 100 * torch.randn(3, 4, 6, dtype=torch.float64)], 1)
    for b, n in enumerate(lengths):
        wider[b, n:] = 1e3 * torch.randn(9 - n, 6, dtype=torch.float64)
    context2, weights2 = attend(query, wider, _mask(lengths, 9))
    assert torch.all(weights2[:, :, 5:] == 0.0)
    assert torch.allclose(weights2[:, :, :5], weights, atol=1e-12)
    assert torch.allclose(context2, context, atol=1e-12)


@pytest.mark.parametrize("mode", ATTENTIONS)
def test_attention_matches_the_formulas_written_out(mode):
    torch.manual_seed(1)
    attend = Attention(mode, query_size=4, key_size=4).double()
    keys = torch.randn(2, 3, 4, dtype=torch.float64)
    query = torch.randn(2, 4, dtype=torch.float64)
    context, weights = attend(query, keys, _mask([3, 2], 3))
    for b, n in enumerate([3, 2]):
        if mode == "dot":
            e = keys[b, :n] @ query[b]
        elif mode == "general":
            e = (keys[b, :n] @ attend.key_proj.weight.T) @ query[b]
        else:
            hidden = torch.tanh(attend.query_proj(query[b]) + attend.key_proj(keys[b, :n]))
            e = hidden @ attend.v.weight[0]
        a = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()
        assert torch.allclose(weights[b, :n], a, atol=1e-12)
        assert torch.allclose(context[b], a @ keys[b, :n], atol=1e-12)


def test_one_step_query_equals_the_same_query_among_many():
    attend = Attention("additive", query_size=5, key_size=3)
    keys, mask = torch.randn(2, 4, 3), _mask([4, 2], 4)
    query = torch.randn(2, 6, 5)
    context, weights = attend(query, keys, mask)
    c1, w1 = attend(query[:, 2], keys, mask)
    assert torch.allclose(c1, context[:, 2], atol=1e-6)
    assert torch.allclose(w1, weights[:, 2], atol=1e-6)


def test_dot_attention_refuses_widths_that_differ():
    with pytest.raises(ValueError, match="use 'general'"):
        Attention("dot", query_size=4, key_size=6)
    with pytest.raises(ValueError, match="attention must be one of"):
        Attention("cosine", query_size=4, key_size=4)


@pytest.mark.parametrize(("mode", "feeding"), [("general", True), ("additive", False)])
def test_seq2seq_outputs_do_not_change_when_source_padding_is_added(mode, feeding):
    torch.manual_seed(2)
    model = (
        Seq2Seq(
            9,
            11,
            embedding_dim=8,
            hidden_size=12,
            encoder_layers=2,
            attention=mode,
            input_feeding=feeding,
        )
        .double()
        .eval()
    )
    lengths = torch.tensor([6, 4, 1])
    src = torch.randint(4, 9, (3, 6))
    for b, n in enumerate(lengths):
        src[b, n:] = 0
    tgt_in = torch.randint(2, 11, (3, 5))
    logits, weights = model(src, lengths, tgt_in, return_attention=True)
    padded = torch.cat([src, torch.zeros(3, 3, dtype=torch.long)], 1)
    logits2, weights2 = model(padded, lengths, tgt_in, return_attention=True)
    assert torch.allclose(logits2, logits, atol=1e-10)
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(weights[b, :, n:] == 0.0) and torch.all(weights2[b, :, n:] == 0.0)
    # A sentence decoded alone equals the same sentence in a padded batch.
    alone = model(src[2:, :1], lengths[2:], tgt_in[2:])
    assert torch.allclose(alone, logits[2:], atol=1e-10)


@pytest.mark.parametrize("feeding", [True, False])
def test_stepping_the_decoder_by_hand_reproduces_the_teacher_forced_forward(feeding):
    # Without input feeding the forward runs each layer over all steps at once: a
    # different code path from the cells' steps that decoding uses.
    torch.manual_seed(3)
    model = Seq2Seq(7, 8, embedding_dim=6, hidden_size=10, decoder_layers=2, input_feeding=feeding)
    model = model.double().eval()
    src, lengths = torch.randint(4, 7, (2, 5)), torch.tensor([5, 3])
    tgt_in = torch.randint(2, 8, (2, 4))
    logits = model(src, lengths, tgt_in)
    memory, state = model.encode(src, lengths)
    for t in range(4):
        logp, state, _ = model.step(tgt_in[:, t], state, memory)
        banned = model.banned
        expected = logits[:, t].masked_fill(banned, float("-inf")).log_softmax(-1)
        assert torch.allclose(logp[:, ~banned], expected[:, ~banned], atol=1e-10)
        assert torch.all(logp[:, banned] == float("-inf"))


def test_the_all_steps_decoder_has_the_stepped_decoders_gradients():
    torch.manual_seed(5)
    model = Seq2Seq(
        7, 8, embedding_dim=6, hidden_size=10, decoder_layers=2, dropout=0.0, input_feeding=False
    )
    model = model.double().train()
    src, lengths = torch.randint(4, 7, (3, 5)), torch.tensor([5, 3, 2])
    tgt_in = torch.randint(2, 8, (3, 4))
    model(src, lengths, tgt_in).square().sum().backward()
    at_once = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    memory, state = model.encode(src, lengths)
    outputs = []
    for t in range(4):
        features, state, _ = model.step_features(tgt_in[:, t], state, memory)
        outputs.append(model.generator(features))
    torch.stack(outputs, 1).square().sum().backward()
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, at_once[name], atol=1e-10), name


def test_scheduled_sampling_at_probability_one_reads_only_its_own_guesses():
    torch.manual_seed(4)
    model = Seq2Seq(7, 9, embedding_dim=6, hidden_size=8, dropout=0.0, sampling_prob=1.0)
    model = model.double().train()
    src, lengths = torch.randint(4, 7, (3, 4)), torch.tensor([4, 4, 2])
    tgt_in = torch.randint(4, 9, (3, 5))
    other = tgt_in.clone()
    other[:, 1:] = torch.randint(4, 9, (3, 4))  # different gold tokens after <s>
    assert torch.allclose(model(src, lengths, tgt_in), model(src, lengths, other))
    model.sampling_prob = 0.0  # teacher forcing: the gold tokens matter
    assert not torch.allclose(model(src, lengths, tgt_in), model(src, lengths, other))


def test_tied_embeddings_share_one_matrix_and_train_it_from_both_ends():
    model = Seq2Seq(7, 9, embedding_dim=6, hidden_size=8, tie_embeddings=True)
    assert model.generator.weight is model.target_embedding.weight
    assert model.combine.out_features == 6  # h̃ has the embedding's width
    src, lengths = torch.randint(4, 7, (2, 3)), torch.tensor([3, 2])
    model(src, lengths, torch.randint(4, 9, (2, 4))).sum().backward()
    assert model.target_embedding.weight.grad is not None
    assert model.target_embedding.weight.grad.abs().sum() > 0
