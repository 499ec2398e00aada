"""The translate task: data and the G2P protocol, learning a tiny task, artifacts, Task shape."""

import itertools
import json
import random

import pytest
import torch

from lstmkit.io import ArtifactError, load_artifact
from lstmkit.tasks.base import Task
from lstmkit.tasks.translate import (
    PairBatches,
    ParallelData,
    TranslateConfig,
    Translator,
    Vocabulary,
    g2p_split,
    load_cmudict,
    read_tsv,
    split_items,
)
from lstmkit.tasks.translate.data import write_tsv


@pytest.fixture(autouse=True, scope="module")
def one_thread():  # module scope: it must come before the module's trained model
    # Tiny ops on two threads of a busy machine wait on each other (~20 ms per op here).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def reversal(seed=0):
    """Every string of 1-4 letters over abcd (340) and its reversal, shuffled."""
    words = ["".join(p) for n in range(1, 5) for p in itertools.product("abcd", repeat=n)]
    random.Random(seed).shuffle(words)
    return ParallelData(words, [[w[::-1]] for w in words], "reverse")


TINY = dict(
    hidden_size=64,
    encoder_layers=1,  # the tiny tasks' settings, not the G2P default's two layers
    embedding_dim=16,
    batch_size=32,
    lr=1e-2,
    dropout=0.0,
    label_smoothing=0.0,
    minutes=None,
    patience=None,
    beam_size=3,
    source_tokens="char",
    target_tokens="char",
)


@pytest.fixture(scope="module")
def reverser():
    data = reversal()
    train, val, test = (
        data.subset(range(220)),
        data.subset(range(220, 280)),
        data.subset(range(280, 340)),
    )
    model = Translator(TranslateConfig(epochs=24, **TINY)).fit(train, val)
    return model, test


def test_a_tiny_reversal_task_is_learnt_to_100_percent_on_unseen_strings(reverser):
    model, test = reverser
    assert model.evaluate(test, beam_size=1)["wer"] == 0.0
    scores = model.evaluate(test)
    assert scores["wer"] == 0.0 and scores["per"] == 0.0
    assert scores["beam_size"] == 3 and "bleu" not in scores  # BLEU: word-level targets only
    assert model.predict(["abcd", "dab"]) == ["dcba", "bad"]


def test_n_best_lists_are_ranked_distinct_and_attend_where_the_letters_are(reverser):
    model, _ = reverser
    (nbest,) = model.translate(["abcd"], n_best=3)
    assert nbest[0].text == "dcba"
    assert len({t.text for t in nbest}) == 3
    assert [t.score for t in nbest] == sorted((t.score for t in nbest), reverse=True)
    attention = nbest[0].attention  # (5 output steps with </s>, 4 letters)
    assert attention.shape == (5, 4)
    # The reversal's alignment: output k mostly reads letter 3 - k.
    assert attention[:4].argmax(1).tolist() == [3, 2, 1, 0]


def test_save_load_gives_the_same_outputs_and_a_damaged_artifact_is_refused(reverser, tmp_path):
    model, test = reverser
    model.save(tmp_path / "run")
    again = Translator.load(tmp_path / "run")
    assert isinstance(again, Task) and again.kind == "translate"
    a, b = model.translate(test.sources[:8], n_best=2), again.translate(test.sources[:8], n_best=2)
    assert [[t.text for t in x] for x in a] == [[t.text for t in x] for x in b]
    assert [t.score for x in a for t in x] == [t.score for x in b for t in x]
    assert load_artifact(tmp_path / "run", "translate").config["config"]["hidden_size"] == 64
    index = tmp_path / "run" / "artifact.json"
    meta = json.loads(index.read_text())
    meta["config"]["target_vocab"] = meta["config"]["target_vocab"][:-1]
    index.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="not a translate model this lstmkit can read"):
        Translator.load(tmp_path / "run")
    weights = next((tmp_path / "run").glob("weights-*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="corrupt"):
        Translator.load(tmp_path / "run")


def test_an_untrained_translator_and_bad_sources_are_refused():
    with pytest.raises(ValueError, match="not trained"):
        Translator().predict(["abc"])
    with pytest.raises(ValueError, match="hidden_size"):
        TranslateConfig(hidden_size=7)
    with pytest.raises(ValueError, match="attention must be one of"):
        TranslateConfig(attention="cosine")
    with pytest.raises(ValueError, match="sampling_prob must lie in"):
        TranslateConfig(sampling_prob=1.5)


def test_tsv_reading_groups_references_and_names_what_is_wrong(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("read\tR IY D\nread\tR EH D\nread\tR IY D\ncat\tK AE T\n")
    data = read_tsv(path)
    assert data.sources == ["read", "cat"]
    assert data.references == [["R IY D", "R EH D"], ["K AE T"]]
    assert read_tsv(path, 1, 0).sources == ["R IY D", "R EH D", "K AE T"]
    named = tmp_path / "named.tsv"
    named.write_text("id\tword\tphones\n1\tdog\tD AO G\n")
    assert read_tsv(named, "word", "phones").pairs() == [("dog", "D AO G")]
    assert data.name == "pairs"
    with pytest.raises(ValueError, match="no column 'pron'"):
        read_tsv(named, "word", "pron")
    with pytest.raises(ValueError, match="target column 5"):
        read_tsv(path, 0, 5)
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nc\t\n")
    with pytest.raises(ValueError, match="line 2 has an empty target"):
        read_tsv(bad)
    with pytest.raises(FileNotFoundError, match="no TSV file"):
        read_tsv(tmp_path / "missing.tsv")
    assert read_tsv_round_trip(data, tmp_path) == data.pairs()


def read_tsv_round_trip(data, tmp_path):
    out = tmp_path / "again.tsv"
    out.write_bytes(write_tsv(data))
    return read_tsv(out).pairs()


def test_cmudict_protocol_cleaning_on_hand_made_entries(tmp_path):
    path = tmp_path / "mini.dict"
    path.write_text(
        "a AH0\na(2) EY1\nabc's EY1 B IY1 S IY1 Z\naaron EH1 R AH0 N\naaron(2) EH2 R AH0 N\n"
        "d'artagnan D AH0 R T AE1 NG Y AH0 N # foreign french\nhello HH AH0 L OW1 # greeting\n"
        "3d TH R IY1 D IY1\n"
    )
    data = load_cmudict(path)
    assert data.sources == ["a", "aaron", "hello"]
    assert data.references == [["AH", "EY"], ["EH R AH N"], ["HH AH L OW"]]


def test_the_embedded_cmudict_and_its_fixed_split_by_word():
    data = load_cmudict()
    assert len(data) == 117_493 and sum(map(len, data.references)) == 125_571
    train, val, test = g2p_split(data)
    assert (len(train), len(val), len(test)) == (95_170, 10_574, 11_749)
    sides = [set(part.sources) for part in (train, val, test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert g2p_split(data)[2].sources == test.sources  # fixed
    where = dict(zip(data.sources, data.references))
    assert all(refs == where[w] for w, refs in zip(test.sources, test.references))


def test_vocabulary_batches_and_splits():
    vocab = Vocabulary.build([["b", "a"], ["a"]])
    assert vocab.tokens[:4] == ["<pad>", "<unk>", "<s>", "</s>"] and vocab.tokens[4] == "a"
    assert vocab.decode(vocab.encode(["a", "z", "b"])) == ["a", "<unk>", "b"]
    src, lengths, tgt_in, tgt_out = next(
        iter(PairBatches([[4, 5], [6]], [[7], [8, 9]], 2, shuffle=False))
    )
    assert lengths.tolist() == [1, 2] and src.tolist() == [[6, 0], [4, 5]]
    assert tgt_in.tolist() == [[2, 8, 9], [2, 7, 0]]
    assert tgt_out.tolist() == [[8, 9, 3], [7, 3, 0]]
    data = reversal()
    rest, held = split_items(data, 0.25, seed=3)
    assert len(held) == 85 and not set(rest.sources) & set(held.sources)
    with pytest.raises(ValueError, match="too few to hold out"):
        split_items(data.subset(range(1)), 0.1, seed=0)


def test_the_switches_train_save_and_load(tmp_path):
    settings = dict(
        TINY,
        epochs=1,
        tie_embeddings=True,
        attention="additive",
        input_feeding=False,
        sampling_prob=0.5,
        encoder_layers=2,
        decoder_layers=2,
    )
    data = reversal(1).subset(range(60))
    model = Translator(TranslateConfig(**settings)).fit(
        data.subset(range(50)), data.subset(range(50, 60))
    )
    model.save(tmp_path / "run")
    again = Translator.load(tmp_path / "run")
    assert again.model.generator.weight is again.model.target_embedding.weight
    a = model.translate(data.sources[:5], n_best=2)
    b = again.translate(data.sources[:5], n_best=2)
    assert [t.score for x in a for t in x] == [t.score for x in b for t in x]
