"""Tokenizers, stream batching and language-model metrics."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmkit.data.batching import StreamBatches
from lstmkit.data.text import PAD, UNK, Tokenizer, read_text
from lstmkit.metrics.language import bits_per_char, cross_entropy, perplexity

VERSE = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles--\n"
    "And by opposing end them? (To die.) O'er the King's prov'd sleep!\n"
)


def test_char_tokenizer_round_trips_text_exactly():
    tok = Tokenizer.build([VERSE], level="char")
    assert tok.tokens[:2] == [PAD, UNK]
    assert tok.decode(tok.encode(VERSE)) == VERSE
    assert len(tok) == 2 + len(set(VERSE))


def test_char_tokenizer_maps_rare_and_unseen_to_unk():
    tok = Tokenizer.build(["aaab"], level="char", min_freq=2)
    assert tok.tokens == [PAD, UNK, "a"]
    assert tok.encode("abz") == [2, 1, 1]
    assert tok.decode([2, 1, 0]) == "a<unk>"


def test_word_tokenizer_splits_words_punctuation_and_newlines():
    tok = Tokenizer.build([VERSE], level="word")
    pieces = tok.split("Whether 'tis nobler--\nO'er (the) King's.")
    expected = ["Whether", "'tis", "nobler", "-", "-", "\n", "O'er", "(", "the", ")", "King's"]
    assert pieces == [*expected, "."]
    # The verse is in normal form already, so it comes back unchanged.
    assert tok.decode(tok.encode(VERSE)) == VERSE


def test_word_tokenizer_min_freq_and_unk():
    tok = Tokenizer.build(["the cat and the dog and the end"], level="word", min_freq=2)
    assert tok.tokens == [PAD, UNK, "the", "and"]
    assert tok.decode(tok.encode("the bird and")) == "the <unk> and"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=2, max_value=40), min_size=0, max_size=30))
def test_word_ids_round_trip_through_text(ids):
    tok = Tokenizer.build([VERSE], level="word")
    ids = [i % len(tok) if i % len(tok) >= 2 else 2 for i in ids]
    assert tok.encode(tok.decode(ids)) == ids


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab ,.'-\n(x)", max_size=40))
def test_word_normal_form_is_a_fixed_point(text):
    tok = Tokenizer.build(["a b x"], level="word")
    once = tok.normalize(text)
    assert tok.normalize(once) == once


def test_min_docs_drops_tokens_of_too_few_documents():
    plays = ["hamlet speaks to the king", "the king and lear", "the fool and the king"]
    tok = Tokenizer.build(plays, level="word", min_docs=2)
    assert tok.tokens == [PAD, UNK, "the", "king", "and"]


def test_tokenizer_save_load_json(tmp_path):
    tok = Tokenizer.build([VERSE], level="word", lowercase=True, min_freq=1)
    path = tok.save(tmp_path / "tok.json")
    back = Tokenizer.load(path)
    assert back.tokens == tok.tokens and back.level == "word" and back.lowercase
    assert back.encode("TO BE") == tok.encode("to be")


def test_tokenizer_bad_input():
    with pytest.raises(ValueError, match="level must be 'char' or 'word', got 'byte'"):
        Tokenizer.build(["x"], level="byte")
    with pytest.raises(ValueError, match="cannot build a vocabulary from empty text"):
        Tokenizer.build([""], level="char")
    with pytest.raises(ValueError, match="min_freq must be an integer >= 1, got 0"):
        Tokenizer.build(["x"], min_freq=0)
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        Tokenizer.build(["x"]).encode(b"x")
    with pytest.raises(ValueError, match="token id 9 is outside the vocabulary of 3 tokens"):
        Tokenizer.build(["x"]).decode([9])


def test_read_text_refuses_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    with pytest.raises(ValueError, match=r"text file '.*empty.txt' is empty"):
        read_text(empty)
    with pytest.raises(ValueError, match=r"text file '.*nope.txt' does not exist"):
        read_text(tmp_path / "nope.txt")


@pytest.mark.parametrize(("n", "batch", "bptt"), [(1001, 4, 7), (64, 3, 100), (10, 9, 1)])
def test_stream_batches_cover_every_target_exactly_once(n, batch, bptt):
    ids = torch.arange(n)
    stream = StreamBatches(ids, batch_size=batch, bptt=bptt)
    seen = torch.cat([y.reshape(-1) for _, y in stream])
    assert sorted(seen.tolist()) == list(range(1, stream.num_tokens + 1))
    assert n - 1 - stream.num_tokens < batch  # at most a short tail is dropped
    assert len(list(stream)) == len(stream)
    for x, y in stream:
        assert x.shape == y.shape and x.shape[0] == batch and torch.equal(y, x + 1)


def test_stream_batches_columns_continue_across_chunks():
    stream = StreamBatches(torch.arange(101), batch_size=4, bptt=10)
    chunks = [x for x, _ in stream]
    # The first token of chunk k+1 in each column follows the last token of chunk k.
    for a, b in itertools.pairwise(chunks):
        assert torch.equal(b[:, 0], a[:, -1] + 1)


def test_stream_chunks_are_counted_across_passes():
    stream = StreamBatches(torch.arange(41), batch_size=2, bptt=6)  # 20 steps: 4 chunks
    assert len(stream) == 4
    for k in range(4):
        for got, want in zip(stream.chunk(k + 4), stream.chunk(k)):
            assert torch.equal(got, want)
    assert [x.shape[1] for x, _ in stream.chunks(2, 6)] == [6, 2, 6, 6]
    assert torch.equal(torch.cat([x for x, _ in stream.chunks(0, 4)], 1), stream.inputs)


def test_stream_batches_bad_input():
    with pytest.raises(ValueError, match="the stream has 3 tokens, too few for 4 batch columns"):
        StreamBatches(torch.arange(3), batch_size=4, bptt=2)
    with pytest.raises(ValueError, match="bptt must be a positive integer, got 0"):
        StreamBatches(torch.arange(30), batch_size=2, bptt=0)


def test_language_metrics_against_hand_computed_values():
    # Uniform logits over 4 tokens: cross-entropy ln 4, perplexity 4, 2 bits per char.
    logits = torch.zeros(2, 3, 4)
    targets = torch.tensor([[0, 1, 2], [3, 0, 1]])
    assert cross_entropy(logits, targets) == pytest.approx(math.log(4))
    assert perplexity(math.log(4)) == pytest.approx(4.0)
    assert bits_per_char(math.log(4)) == pytest.approx(2.0)
    # A word model: 1.5 nats over 10 words spanning 50 characters.
    assert bits_per_char(1.5, 10, 50) == pytest.approx(1.5 * 10 / 50 / math.log(2))
    with pytest.raises(ValueError, match="need targets of shape"):
        cross_entropy(logits, targets[:, :2])
    with pytest.raises(ValueError, match="cross-entropy must be a finite non-negative number"):
        perplexity(float("nan"))
