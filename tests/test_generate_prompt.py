"""`generate sample` continues a prompt from the model's own training text by default."""

from __future__ import annotations

import os

import numpy as np

from lstmkit.cli import main
from lstmkit.tasks.generate.task import Corpus, GenerateConfig, TextGenerator, default_prompt


def _text(seed: int) -> str:
    rng = np.random.default_rng(seed)
    words = ["zephyr", "quark", "ion", "boson", "lepton", "gluon"]
    return "\n".join(" ".join(rng.choice(words, 5)) for _ in range(80)) + "\n"


def test_default_prompt_prefers_a_repeated_short_line_else_the_first():
    assert default_prompt("A play\nBOB.\nhi there\nANN.\nyo\nBOB.\nok\n") == "BOB.\n"
    long_first = "the quick brown fox jumps over the lazy dog " * 3
    prompt = default_prompt(long_first + "\nsecond line\n")
    assert long_first.startswith(prompt) and 0 < len(prompt) <= 40


def test_word_model_samples_from_its_own_text_by_default(tmp_path, capsys):
    seed = int.from_bytes(os.urandom(4), "little")
    path = tmp_path / "own.txt"
    path.write_text(_text(seed))
    run = tmp_path / "run"
    argv = ["generate", "--text", str(path), "--level", "word", "--min-freq", "1",
            "--hidden-size", "8", "--embedding-dim", "4", "--epochs", "0.3", "--minutes", "0",
            "--max-length", "5", "--run", str(run)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    gen = TextGenerator.load(run)
    assert gen.prompt.strip() in path.read_text()
    assert 1 not in gen.tokenizer.encode(gen.prompt)  # id 1 is <unk>: "HAMLET." was all <unk>
    assert main(["generate", "sample", "--run", str(run), "--max-length", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(gen.prompt.strip()) and "<unk>" not in out


def test_prompt_survives_save_and_load(tmp_path):
    corpus = Corpus(train=_text(1), val=_text(2), description="toy")
    gen = TextGenerator(GenerateConfig(hidden_size=8, embedding_dim=4, epochs=0.1, minutes=None))
    gen.fit(corpus)
    gen.save(tmp_path / "r")
    assert TextGenerator.load(tmp_path / "r").prompt == gen.prompt == default_prompt(corpus.train)
