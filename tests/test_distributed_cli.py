"""`--nproc 2` on the command line: the command reruns under torchrun, both ranks train, rank
0 alone writes the run, and a language model trains the weights of one process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lstmkit.cli import main
from lstmkit.io import load_artifact


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(int(torch.randint(0, 2**31, ())))
    words = ["to be", "or not", "that is", "the question", "whether", "tis nobler"]
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(" ".join(rng.choice(words, 4)) for _ in range(120)) + "\n")
    return path


def test_generate_on_two_processes_trains_the_one_process_weights(tmp_path, text_file):
    argv = ["generate", "--text", str(text_file), "--hidden-size", "16", "--embedding-dim",
            "8", "--batch-size", "8", "--bptt", "16", "--epochs", "1", "--minutes", "0",
            "--eval-every", "6", "--dropout", "0", "--max-length", "20",
            "--threads", "1"]  # fmt: skip
    one, two = tmp_path / "one", tmp_path / "two"
    assert main([*argv, "--run", str(one)]) == 0
    assert main([*argv, "--run", str(two), "--nproc", "2"]) == 0
    a, b = load_artifact(one, "generate").tensors, load_artifact(two, "generate").tensors
    for name in a:  # float32, and the two ranks sum their gradients in another order
        torch.testing.assert_close(b[name], a[name], atol=2e-5, rtol=1e-4, msg=name)
    h1, h2 = (json.loads((d / "metrics.json").read_text())["history"] for d in (one, two))
    assert [r["epoch"] for r in h1] == [r["epoch"] for r in h2]
    assert h2[-1]["val_loss"] == pytest.approx(h1[-1]["val_loss"], rel=1e-4)
    assert len(list(two.glob("weights-*.safetensors"))) == 1  # written once, by rank 0


@pytest.mark.slow  # two more interpreters under torchrun: 20 min at load 15 with the above
def test_translate_on_two_processes_writes_one_run(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    words = sorted({a + b + c for a in "abcd" for b in "abcd" for c in "ab"})
    tsv.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    run = tmp_path / "run"
    argv = ["translate", "--tsv", str(tsv), "--epochs", "2", "--minutes", "0", "--hidden-size",
            "8", "--embedding-dim", "8", "--batch-size", "8", "--beam-size", "1",
            "--threads", "1", "--run", str(run), "--nproc", "2"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"][0]["decoding"] == "greedy"
    assert len(list(run.glob("weights-*.safetensors"))) == 1
