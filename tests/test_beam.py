"""Greedy decoding and batched beam search, against brute force and the model's own scores."""

import itertools

import pytest
import torch

from lstmkit.nn.beam import beam_search, greedy_decode, max_lengths
from lstmkit.nn.seq2seq import Seq2Seq

PAD, UNK, BOS, EOS = 0, 1, 2, 3


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(seed, target_vocab=12, sharpen=3.0, **kw):
    torch.manual_seed(seed)
    model = Seq2Seq(9, target_vocab, embedding_dim=8, hidden_size=16, **kw).double().eval()
    with torch.no_grad():  # peakier distributions than at initialisation, so ranks are clear
        model.generator.weight.mul_(sharpen)
    return model


def _batch(seed, lengths):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 9, (len(lengths), max(lengths)), generator=g)
    for b, n in enumerate(lengths):
        src[b, n:] = PAD
    return src, torch.tensor(lengths)


def _score(model, src, lengths, outputs, alpha):
    """The model's teacher-forced log-probability of each output (+ </s>), normalised."""
    width = max(len(o) for o in outputs) + 1
    tgt = torch.full((len(outputs), width), PAD)
    for i, o in enumerate(outputs):
        tgt[i, : len(o) + 1] = torch.tensor([*o, EOS])
    log_prob = model.score(src, lengths, tgt)
    n = torch.tensor([len(o) + 1 for o in outputs], dtype=torch.float64)
    return log_prob, log_prob / n**alpha


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_of_one_is_greedy(alpha):
    model = _model(0)
    src, lengths = _batch(1, [7, 5, 3, 1, 6])
    greedy = greedy_decode(model, src, lengths, length_penalty=alpha)
    beam = beam_search(model, src, lengths, beam_size=1, length_penalty=alpha)
    for g, (b,) in zip(greedy, beam):
        assert g.tokens == b.tokens
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-9)
        assert g.score == pytest.approx(b.score, abs=1e-9)
        assert torch.allclose(g.attention, b.attention)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_is_exhaustive_search_on_a_tiny_model(alpha):
    # Target tokens: <unk>, 4, 5 may be output (pad and <s> never); 4 tokens at most with
    # </s>: 1 + 3 + 9 + 27 = 40 possible outputs. A beam of 40 keeps every live prefix and
    # every finished one, so it must return all 40 in the exact order of their scores.
    model = _model(2, target_vocab=6, sharpen=4.0)
    src, lengths = _batch(3, [4, 2])
    free = [UNK, 4, 5]
    everything = [list(p) for n in range(4) for p in itertools.product(free, repeat=n)]
    hyps = beam_search(
        model,
        src,
        lengths,
        beam_size=40,
        n_best=40,
        length_penalty=alpha,
        max_length_ratio=0.0,
        max_length_extra=4,
    )
    for b in range(2):
        many = (src[b : b + 1, : lengths[b]].expand(40, -1), lengths[b : b + 1].expand(40))
        _, scores = _score(model, *many, everything, alpha)
        brute = sorted(zip(scores.tolist(), everything), key=lambda p: -p[0])
        found = hyps[b]
        assert len(found) == 40
        assert [h.tokens for h in found][:10] == [o for _, o in brute][:10]
        assert [h.score for h in found] == pytest.approx([s for s, _ in brute], abs=1e-9)
        assert sorted(map(tuple, (h.tokens for h in found))) == sorted(map(tuple, everything))


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_scores_are_the_models_summed_log_probabilities_normalised(alpha):
    model = _model(4, input_feeding=False, attention="additive")
    src, lengths = _batch(5, [6, 4, 2])
    hyps = beam_search(model, src, lengths, beam_size=4, n_best=3, length_penalty=alpha)
    for b, nbest in enumerate(hyps):
        assert len(nbest) == 3
        one = (src[b : b + 1, : lengths[b]], lengths[b : b + 1])
        for h in nbest:
            log_prob, score = _score(model, *one, [h.tokens], alpha)
            assert h.log_prob == pytest.approx(float(log_prob), abs=1e-9)
            assert h.score == pytest.approx(float(score), abs=1e-9)
            assert h.attention.shape == (len(h.tokens) + 1, int(lengths[b]))
            assert torch.allclose(h.attention.sum(-1), torch.ones(len(h.tokens) + 1).double())
        assert [h.score for h in nbest] == sorted((h.score for h in nbest), reverse=True)
        assert len({tuple(h.tokens) for h in nbest}) == 3  # no duplicates


def test_a_batch_decodes_as_each_sentence_alone_and_twice_the_same():
    model = _model(6)
    src, lengths = _batch(7, [5, 2, 4])
    batch = beam_search(model, src, lengths, beam_size=3, n_best=2)
    again = beam_search(model, src, lengths, beam_size=3, n_best=2)
    for b in range(3):
        alone = beam_search(
            model, src[b : b + 1, : lengths[b]], lengths[b : b + 1], beam_size=3, n_best=2
        )[0]
        assert [h.tokens for h in alone] == [h.tokens for h in batch[b]]
        assert [h.score for h in alone] == pytest.approx([h.score for h in batch[b]], abs=1e-9)
        assert [h.tokens for h in again[b]] == [h.tokens for h in batch[b]]


def test_outputs_respect_the_length_limit_relative_to_the_source():
    model = _model(8, sharpen=0.0)  # uniform: </s> is rarely the best, outputs run long
    src, lengths = _batch(9, [6, 3, 1])
    limits = max_lengths(lengths, 1.5, 2)
    assert limits.tolist() == [11, 6, 3]
    for hyps in (
        beam_search(model, src, lengths, beam_size=3, max_length_ratio=1.5, max_length_extra=2),
        [[h] for h in greedy_decode(model, src, lengths, max_length_ratio=1.5, max_length_extra=2)],
    ):
        for b, nbest in enumerate(hyps):
            assert all(len(h.tokens) + 1 <= limits[b] for h in nbest)


def test_decoding_restores_training_mode_and_refuses_bad_settings():
    model = _model(10).train()
    src, lengths = _batch(11, [3])
    beam_search(model, src, lengths, beam_size=2)
    assert model.training
    with pytest.raises(ValueError, match="beam_size must be a positive integer"):
        beam_search(model, src, lengths, beam_size=0)
    with pytest.raises(ValueError, match=r"n_best must be an integer in \[1, beam_size=2\]"):
        beam_search(model, src, lengths, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="not both 0"):
        greedy_decode(model, src, lengths, max_length_ratio=0.0, max_length_extra=0)
