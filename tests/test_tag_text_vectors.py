"""Word vectors from raw text (PPMI + truncated SVD) against brute-force counts and numpy's SVD."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from lstmkit.cli import main
from lstmkit.io import load_artifact
from lstmkit.tasks.tag import text_vectors as tv


def test_tokenize_keeps_urls_mentions_and_hashtags_and_splits_clitics():
    line = "RT @Ann: It's #NowPlaying https://t.co/x1?a=b &amp; more!"
    assert tv.tokenize(line) == ["RT", "@Ann", ":", "It", "'s", "#NowPlaying",
                                 "https://t.co/x1?a=b", "&", "amp", ";", "more", "!"]  # fmt: skip


def brute_force_counts(lines, index, window):
    counts = np.zeros((len(index), len(index)))
    for line in lines:
        ids = [index.get(w, -1) for w in line.split()]
        for i, a in enumerate(ids):
            for d in range(1, window + 1):
                if i + d < len(ids) and a >= 0 and ids[i + d] >= 0:
                    counts[a, ids[i + d]] += 1 / d
                    counts[ids[i + d], a] += 1 / d
    return counts


@pytest.mark.parametrize("chunk", [7, 1000])  # 7: pairs straddle the chunks of the count
def test_cooccurrences_equal_brute_force_counts_within_lines(monkeypatch, chunk):
    monkeypatch.setattr(tv, "_CHUNK", chunk)
    rng = random.Random(chunk)
    words = [f"w{i}" for i in range(6)]
    lines = [" ".join(rng.choice([*words, "oov"]) for _ in range(rng.randint(1, 9)))
             for _ in range(12)]  # fmt: skip
    index = {w: i for i, w in enumerate(words)}
    ids = []
    for line in lines:
        ids += [index.get(w, tv._UNKNOWN) for w in line.split()] + [tv._BREAK]
    got = tv._cooccurrences(np.asarray(ids), len(words), window=3).toarray()
    np.testing.assert_allclose(got, brute_force_counts(lines, index, 3), rtol=1e-12)


def test_ppmi_equals_the_formula_on_a_dense_matrix():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (5, 5)).astype(float)
    counts = counts + counts.T
    got = tv._ppmi(tv.sparse.csr_matrix(counts)).toarray()
    total = counts.sum()
    context = counts.sum(0) ** 0.75
    for w in range(5):
        for c in range(5):
            if counts[w, c]:
                pmi = math.log(counts[w, c] * context.sum() / (counts[w].sum() * context[c]))
                assert got[w, c] == pytest.approx(max(pmi, 0.0), rel=1e-12), (w, c)
            else:
                assert got[w, c] == 0
    assert total > 0


def test_factor_gives_the_top_singular_directions_of_numpys_svd():
    rng = np.random.default_rng(1)
    matrix = rng.random((40, 40))
    matrix = matrix @ matrix.T  # symmetric, as PPMI of symmetric counts
    vectors = tv._factor(tv.sparse.csr_matrix(matrix), 5, seed=0)
    u, s, _ = np.linalg.svd(matrix)
    expected = u[:, :5] * np.sqrt(s[:5])
    expected *= np.sqrt(5) / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors @ vectors.T, expected @ expected.T, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), math.sqrt(5), rtol=1e-5)


def test_words_of_the_same_contexts_get_close_vectors_and_rare_words_none():
    rng = random.Random(0)
    animals = [f"animal{i}" for i in range(12)]
    cities = [f"city{i}" for i in range(12)]
    lines = []
    for _ in range(3000):
        lines.append(f"the {rng.choice(animals)} eats grass and sleeps")
        lines.append(f"we flew to {rng.choice(cities)} airport last week")
    lines.append("a hapax")
    vectors = tv.text_vectors(lines, dim=8, window=2, min_count=2)
    assert "hapax" not in vectors and set(animals + cities) <= set(vectors)

    def cosine(a, b):
        return float(vectors[a] @ vectors[b] / (vectors[a].norm() * vectors[b].norm()))

    within = np.mean([cosine(a, b) for a in animals for b in animals if a != b])
    across = np.mean([cosine(a, c) for a in animals for c in cities])
    assert within > 0.9 and across < 0.5
    again = tv.text_vectors(lines, dim=8, window=2, min_count=2)
    assert all(np.array_equal(vectors[w], again[w]) for w in vectors)  # the run repeats


def test_too_little_text_is_one_clear_error():
    with pytest.raises(ValueError, match="need more than 200"):
        tv.text_vectors(["a b c a b c"], dim=100)


def test_tag_cli_starts_the_embeddings_from_text_vectors(tmp_path, capsys):
    train = tmp_path / "ner.conll"
    train.write_text("we\tO\nmet\tO\nAnn\tB-PER\n\nin\tO\nRome\tB-LOC\n\n" * 4)
    raw = tmp_path / "raw.txt"
    rng = random.Random(0)
    names = [f"name{i}" for i in range(30)]
    raw.write_text("".join(f"we met {rng.choice(names)} in Rome\n" for _ in range(400)))
    run = tmp_path / "run"
    argv = ["tag", "train", "--train", str(train), "--text-vectors", "--lm-text", str(raw),
            "--no-lm", "--epochs", "1", "--word-dim", "8", "--char-hidden", "0",
            "--run", str(run)]  # fmt: skip
    assert main(argv) == 0
    assert "learning 8-wide word vectors" in capsys.readouterr().out
    vocab = json.loads(load_artifact(run, "tag").text("vocab.json"))
    assert set(names) <= set(vocab["words"])  # words of the raw text only join the vocabulary
    both = [*argv[:-2], "--pretrained", str(raw), "--run", str(tmp_path / "both")]
    assert main(both) == 2
    err = capsys.readouterr().err.strip()
    assert "--pretrained FILE and --text-vectors both give word vectors" in err
    assert "\n" not in err
