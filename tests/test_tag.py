"""The tagger end to end on small problems: learning, CRF constraints, save/load, vectors."""

from __future__ import annotations

import json
import random

import pytest
import torch

from lstmkit.io import ArtifactError
from lstmkit.metrics.tagging import entity_report
from lstmkit.tasks.base import Task
from lstmkit.tasks.tag import LMSettings, StringEmbedder, TagConfig, TaggedSentences, Tagger
from lstmkit.tasks.tag.data import EncodedSentences, Vocab, make_batches
from lstmkit.tasks.tag.vectors import read_vectors

pytestmark = pytest.mark.usefixtures("one_thread_module")


def pos_like(n: int, seed: int) -> TaggedSentences:
    """Words w0..w11 have the tag of their number mod 3; 'it' takes the tag of the word
    before it, so a tagger must read context as well as the word."""
    rng = random.Random(seed)
    words, tags = [], []
    for _ in range(n):
        sentence, labels = [], []
        for i in range(rng.randint(2, 8)):
            if i and rng.random() < 0.3:
                sentence.append("it")
                labels.append(labels[-1])
            else:
                k = rng.randrange(12)
                sentence.append(f"w{k}")
                labels.append("ABC"[k % 3])
        words.append(sentence)
        tags.append(labels)
    return TaggedSentences(words, tags)


def ner_like(n: int, seed: int) -> TaggedSentences:
    """Capitalised names of one to three words are PER after 'met', LOC after 'in'."""
    rng = random.Random(seed)
    words, tags = [], []
    for _ in range(n):
        sentence, labels = ["we"], ["O"]
        for _ in range(rng.randint(1, 2)):
            cue = rng.choice(["met", "in"])
            size = rng.randint(1, 3)
            sentence += [cue] + [rng.choice(["Ann", "Bo", "Cy", "Di"]) for _ in range(size)]
            kind = "PER" if cue == "met" else "LOC"
            labels += ["O", f"B-{kind}"] + [f"I-{kind}"] * (size - 1)
            sentence.append("and")
            labels.append("O")
        words.append(sentence)
        tags.append(labels)
    return TaggedSentences(words, tags)


# Small and fast: a few optimizer steps a epoch at a high rate (each test takes seconds).
TINY = dict(word_dim=16, char_dim=8, char_hidden=8, hidden_size=16, num_layers=1,
            dropout=0.0, lr=3e-2, batch_size=32, patience=None)  # fmt: skip


@pytest.mark.parametrize("output", ["softmax", "crf"])
def test_tiny_tagging_problem_learns(output):
    train = pos_like(96, 0)
    tagger = Tagger(TagConfig(output=output, epochs=8, **TINY)).fit(train)
    losses = [row["train_loss"] for row in tagger.history]
    assert losses[0] > 0.8 and losses[-1] < 0.1, losses  # from about log 3 to near 0
    assert tagger.evaluate(pos_like(60, 1))["accuracy"] > 0.95


def test_crf_with_bio_constraints_learns_entities_and_never_predicts_illegal_tags():
    train, test = ner_like(96, 2), ner_like(50, 3)
    tagger = Tagger(TagConfig(output="crf", epochs=6, **TINY)).fit(train, ner_like(30, 4))
    assert tagger.scheme == "bio" and tagger.internal == "bioes"
    assert {"S-PER", "E-LOC"} <= set(tagger.vocab.tags)  # learnt in BIOES
    report = tagger.evaluate(test)
    assert report["entities"]["f1"] > 0.9
    assert "dev_f1" in tagger.history[0]
    for labels in tagger.predict(test):  # written back in BIO, and legal
        for prev, tag in zip(["O", *labels], labels):
            assert not tag.startswith(("E-", "S-"))
            assert not tag.startswith("I-") or prev[2:] == tag[2:]
    assert report["entities"] == entity_report(test.tags, tagger.predict(test))


def test_save_load_round_trip_and_task_shape(tmp_path):
    tagger = Tagger(TagConfig(epochs=2, **TINY)).fit(pos_like(40, 5))
    assert isinstance(tagger, Task) and Tagger.kind == "tag"
    tagger.save(tmp_path / "run")
    again = Tagger.load(tmp_path / "run")
    sentences = [*pos_like(20, 6).words, ["w1", "unseen", "it"]]
    assert again.predict(sentences) == tagger.predict(sentences)
    assert again.config == tagger.config and again.history == tagger.history
    with pytest.raises(ArtifactError, match="holds a 'tag' model, not a 'classify'"):
        from lstmkit.io import load_artifact

        load_artifact(tmp_path / "run", "classify")
    vocab = tmp_path / "run" / "vocab.json"
    vocab.write_text(vocab.read_text().replace("w1", "w9"))
    with pytest.raises(ArtifactError, match="vocab.json is corrupt"):
        Tagger.load(tmp_path / "run")


def test_bad_input_to_the_api():
    with pytest.raises(ValueError, match="not trained"):
        Tagger().predict([["a"]])
    with pytest.raises(ValueError, match="fit needs labelled TaggedSentences"):
        Tagger().fit(TaggedSentences([["a"]]))
    tagger = Tagger(TagConfig(epochs=1, max_length=8, **TINY)).fit(pos_like(20, 7))
    with pytest.raises(ValueError, match="sentence 1 has 9 tokens, more than max_length 8"):
        tagger.predict([["w1"], ["w1"] * 9])
    with pytest.raises(ValueError, match="sentence 0 has no tokens"):
        tagger.predict([[]])
    with pytest.raises(TypeError, match="sentence 0 must be a list of token strings"):
        tagger.predict(["a sentence as one string"])
    unseen = tagger.evaluate(TaggedSentences([["w1"]], [["Z"]]))  # a tag training never had
    assert unseen["accuracy"] == 0.0 and "Z" in unseen["confusion"]["tags"]
    with pytest.raises(ValueError, match="the dev sentences have no tags"):
        Tagger(TagConfig(epochs=1, **TINY)).fit(pos_like(5, 0), TaggedSentences([["w1"]]))
    with pytest.raises(ValueError, match="output must be one of"):
        TagConfig(output="hmm")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        TagConfig(hidden_size=0)


def test_batches_share_character_rows_and_cut_long_words():
    data = TaggedSentences([["a", "bb", "a"], ["bb", "c" * 50]], [["X", "Y", "X"], ["Y", "X"]])
    vocab = Vocab.build(data.words, data.tags)
    encoded = EncodedSentences(vocab, data.words, data.tags, max_chars=10)
    batch = encoded.batch([0, 1])
    assert batch.chars.shape == (3, 10)  # a, bb, c*50 (cut to its first and last 5)
    assert batch.word_chars[0].tolist() == [0, 1, 0] and batch.word_chars[1, :2].tolist() == [1, 2]
    assert batch.char_lengths.tolist() == [1, 2, 10]
    assert batch.lengths.tolist() == [3, 2] and batch.tags[1, 2] == 0
    pieces = make_batches(encoded, 2, shuffle=False, tokens=3)
    assert sorted(i for b in pieces for i in b.index.tolist()) == [0, 1] and len(pieces) == 2


def test_pretrained_vectors_initialise_the_embeddings(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("3 4\nw1 1 2 3 4\nIT 0.5 0.5 0.5 0.5\nfresh 9 9 9 9\n")
    vectors = read_vectors(path)
    assert list(vectors) == ["w1", "IT", "fresh"] and vectors["w1"].tolist() == [1, 2, 3, 4]
    glove = tmp_path / "glove.txt"
    glove.write_text("a 1.0 2.0\nb 3.0\n")
    with pytest.raises(ValueError, match=r"glove.txt:2: a vector of 1 numbers where the first"):
        read_vectors(glove)
    config = TagConfig(epochs=1, pretrained=str(path), **{**TINY, "lr": 1e-9})
    tagger = Tagger(config).fit(pos_like(20, 8))
    table = tagger.model.words.weight
    assert table.shape[1] == 4  # the vectors' width wins over word_dim
    assert torch.allclose(
        table[tagger.vocab.word_id("w1")], torch.tensor([1.0, 2, 3, 4]), atol=1e-4
    )
    assert torch.allclose(table[tagger.vocab.word_id("fresh")], torch.full((4,), 9.0), atol=1e-4)


def test_string_embeddings_are_the_lms_states_at_word_ends(tmp_path):
    settings = LMSettings(hidden_size=6, embedding_dim=4, batch_size=4, bptt=8, minutes=0.005)
    strings = StringEmbedder.pretrain("we met Ann in Bo and Cy.\n" * 40, settings)
    sentences = [["we", "met", "Ann"], ["in", "Bo"]]
    features = strings.embed(sentences)
    assert [f.shape for f in features] == [(3, 12), (2, 12)]
    text = "\nwe met Ann "  # START + words + END, as the embedder builds it
    ids = torch.tensor([[strings.ids.get(c, 0) for c in text]])
    ahead, _ = strings.forward_lm.hidden(ids)
    behind, _ = strings.backward_lm.hidden(ids.flip(1))
    behind = behind.flip(1)
    for k, (first, last) in enumerate([(1, 2), (4, 6), (8, 10)]):  # each word's characters
        expected = torch.cat([ahead[0, last], behind[0, first]])
        torch.testing.assert_close(features[0][k].float(), expected, atol=2e-3, rtol=2e-3)
    strings.save(tmp_path / "lm")
    again = StringEmbedder.load(tmp_path / "lm")
    torch.testing.assert_close(again.embed(sentences)[1], features[1])
    tagger = Tagger(TagConfig(epochs=1, **TINY), strings).fit(ner_like(20, 9))
    tagger.save(tmp_path / "run")
    loaded = Tagger.load(tmp_path / "run")
    assert loaded.strings is not None and loaded.predict(sentences) == tagger.predict(sentences)
    assert json.loads((tmp_path / "run" / "strings.json").read_text())["chars"][0] == "<unk>"


def test_same_seed_same_tagger():
    first, second = (Tagger(TagConfig(epochs=1, **TINY)).fit(pos_like(30, 10)) for _ in range(2))
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
