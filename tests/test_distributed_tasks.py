"""DDP for the tasks with their own batch classes: the tagger (TagBatch: its rows, with the
character rows their words use) and the recommender (session-parallel chunks: each rank its
own slots and their carried states). Two gloo processes on loopback train the weights of
one process at the same global batch (float64) through the tasks' own `fit`, only rank 0
writes files, and `lstmkit tag|recommend train --nproc 2` runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from loopback import free_port
from safetensors.torch import load_file, save_file

from lstmkit.cli import main
from lstmkit.data.sessions import SessionChunk, SessionParallelBatches
from lstmkit.tasks.recommend import RecommendConfig, Recommender, Sessions
from lstmkit.tasks.tag import TagConfig, Tagger
from lstmkit.tasks.tag.data import EncodedSentences, Vocab
from lstmkit.tasks.tag.readers import TaggedSentences

TAG_OUTPUTS = ("softmax", "crf")
REC_RUNS = (("ce", "gru"), ("sampled", "gru"), ("bpr-max", "lstm"))  # (loss, cell)
ATOL = 1e-8  # float64; the ranks' gradients are summed in another order than one process's


def tag_corpus(seed: int) -> TaggedSentences:
    """13 sentences (batches of 4: the last one of 1, fewer rows than ranks) of 1-6 words."""
    rng = np.random.default_rng(seed)
    words = ["the", "a", "cat", "dog", "sat", "ran", "far", "Big", "tiny", "now"]
    tags = ["DET", "DET", "NOUN", "NOUN", "VERB", "VERB", "ADV", "ADJ", "ADJ", "ADV"]
    ids = [rng.integers(0, len(words), int(rng.integers(1, 7))) for _ in range(13)]
    return TaggedSentences([[words[i] for i in s] for s in ids],
                           [[tags[i] for i in s] for s in ids])  # fmt: skip


def tag_config(output: str, seed: int) -> TagConfig:
    # No dropout: its masks are drawn per rank, so they differ from one process's.
    return TagConfig(output=output, epochs=2, batch_size=4, word_dim=6, char_dim=3,
                     char_hidden=3, hidden_size=5, dropout=0.0, word_dropout=0.0, lr=0.05,
                     patience=None, seed=seed)  # fmt: skip


def rec_sessions(seed: int) -> Sessions:
    """Short sessions and one long one: at the end of a pass one slot alone is busy, so a
    rank's slots idle through whole chunks (a share without a real step)."""
    rng = np.random.default_rng(seed)
    items = [[f"i{k}" for k in rng.integers(0, 9, int(rng.integers(2, 5)))] for _ in range(11)]
    items.append([f"i{k % 9}" for k in range(24)])
    return Sessions(items, np.arange(len(items), dtype=float), [str(k) for k in range(len(items))])


def rec_config(loss: str, cell: str, seed: int) -> RecommendConfig:
    return RecommendConfig(loss=loss, cell=cell, batch_size=4, steps=3, epochs=2, negatives=5,
                           dropout=0.0, embedding_dim=6, hidden_size=6, lr=0.05, seed=seed,
                           refit=False)  # fmt: skip


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def train_all(seed: int, out: Path, rank: int) -> dict[str, dict[str, torch.Tensor]]:
    """Every model of the test, trained through the tasks' own `fit` (float64)."""
    result = {}
    for output in TAG_OUTPUTS:
        tagger = Tagger(tag_config(output, seed)).fit(
            tag_corpus(seed), log_dir=out / f"tag-{output}-log-rank{rank}",
            checkpoint_dir=out / f"tag-{output}-ckpt-rank{rank}",
        )  # fmt: skip
        result[f"tag-{output}"] = weights(tagger.model)
    for loss, cell in REC_RUNS:
        folder = out / f"rec-{loss}-ckpt-rank{rank}"
        rec = Recommender(rec_config(loss, cell, seed))
        rec.fit(rec_sessions(seed), checkpoints=lambda phase, folder=folder: folder)
        result[f"rec-{loss}"] = weights(rec.model)
    return result


def _rank_main(rank: int, world: int, port: int, seed: int, out: str) -> None:
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        for name, state in train_all(seed, Path(out), rank).items():
            save_file(state, f"{out}/{name}-rank{rank}.safetensors")
    finally:
        torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(one process's weights, the folder where two ranks left theirs and their files)."""
    out = tmp_path_factory.mktemp("ddp-tasks")
    seed = int(torch.randint(0, 10_000, ()))
    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    try:
        single = train_all(seed, out / "single", 0)
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)
    mp.spawn(_rank_main, args=(2, free_port(), seed, str(out)), nprocs=2)
    return single, out


def _assert_same(single, out, name):
    for rank in range(2):
        got = load_file(str(out / f"{name}-rank{rank}.safetensors"))
        assert got.keys() == single[name].keys()
        assert any(v.dtype == torch.float64 for v in got.values())  # trained in float64
        for key, value in single[name].items():
            torch.testing.assert_close(got[key], value, atol=ATOL, rtol=0, msg=f"{name} {key}")


@pytest.mark.parametrize("output", TAG_OUTPUTS)
def test_tagger_on_two_processes_trains_the_one_process_weights(trained, output):
    single, out = trained
    _assert_same(single, out, f"tag-{output}")
    # Only rank 0 writes: the checkpoint, the learning curve and the history.
    assert (out / f"tag-{output}-ckpt-rank0" / "checkpoint.json").is_file()
    assert (out / f"tag-{output}-log-rank0" / "history.csv").is_file()
    assert not (out / f"tag-{output}-ckpt-rank1").exists()
    assert not (out / f"tag-{output}-log-rank1").exists()


@pytest.mark.parametrize("loss", [loss for loss, _ in REC_RUNS])
def test_recommender_on_two_processes_trains_the_one_process_weights(trained, loss):
    single, out = trained
    _assert_same(single, out, f"rec-{loss}")
    assert (out / f"rec-{loss}-ckpt-rank0" / "checkpoint.json").is_file()
    assert not (out / f"rec-{loss}-ckpt-rank1").exists()


def _resume_main(rank: int, world: int, port: int, seed: int, out: str, stop: int) -> None:
    from test_distributed_more import CtrlCAt

    from lstmkit.train import TrainingInterrupted
    from lstmkit.train.scope import extra_callbacks

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    folder = Path(out) / "rec-resume-ckpt"  # rank 0 writes it, every rank reads it
    rec = Recommender(rec_config("sampled", "lstm", seed))
    try:
        if stop:
            with extra_callbacks(CtrlCAt(stop)), pytest.raises(TrainingInterrupted):
                rec.fit(rec_sessions(seed), checkpoints=lambda phase: folder)
            return
        rec.fit(rec_sessions(seed), checkpoints=lambda phase: folder, resume=True)
        save_file(weights(rec.model), f"{out}/rec-resumed-rank{rank}.safetensors")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow  # two more pairs of ranks: about 40 s at load 6
def test_a_resumed_two_process_recommender_trains_the_one_process_weights(tmp_path):
    seed = int(torch.randint(0, 10_000, ()))
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        rec = Recommender(rec_config("sampled", "lstm", seed))
        single = weights(rec.fit(rec_sessions(seed)).model)
    finally:
        torch.set_default_dtype(dtype)
    chunks = len(SessionParallelBatches(rec.vocab.encode_all(rec_sessions(seed)), 4, 3))
    # Ctrl-C mid-epoch 2: rank 0 saves every rank's carried LSTM states of their own slots.
    for stop in (chunks + chunks // 2, 0):
        mp.spawn(_resume_main, args=(2, free_port(), seed, str(tmp_path), stop), nprocs=2)
    for rank in range(2):
        got = load_file(str(tmp_path / f"rec-resumed-rank{rank}.safetensors"))
        for key, value in single.items():
            torch.testing.assert_close(got[key], value, atol=ATOL, rtol=0, msg=key)


def test_a_tag_batch_shares_cover_the_batch():
    sentences = [["a", "b", "c"], ["b", "dd"], ["c"], ["eee", "a", "b", "c"], ["dd", "x"]]
    vocab = Vocab.build(sentences, [["T"] * len(s) for s in sentences])
    batch = EncodedSentences(vocab, sentences, [["T"] * len(s) for s in sentences]).batch(range(5))
    parts = [batch.shard(r, 2) for r in range(2)]
    assert [len(p.lengths) for p in parts] == [3, 2]
    assert sum(p.loss_weight() for p in parts) == batch.loss_weight() == 12
    for part, rows in zip(parts, ([0, 1, 2], [3, 4])):
        for b, row in enumerate(rows):
            n = int(batch.lengths[row])
            assert part.words[b, :n].tolist() == batch.words[row, :n].tolist()
            spelled = part.chars[part.word_chars[b, :n]]
            expected = batch.chars[batch.word_chars[row, :n]]
            width = spelled.shape[1]  # the share's own longest form: the rest was padding
            assert spelled.tolist() == expected[:, :width].tolist()
            assert not expected[:, width:].any()
        assert part.words.shape[1] == int(part.lengths.max())  # padded to its own longest
    alone = batch.select(torch.arange(1)).shard(1, 2)  # one sentence, two ranks
    assert alone.stand_in and alone.loss_weight() == 0.0


def test_session_chunk_shares_keep_the_whole_chunks_targets():
    mask = torch.tensor([[True, True], [False, False], [True, False], [True, True]])
    targets = torch.arange(1, 9).view(4, 2) * mask
    chunk = SessionChunk(targets, targets, torch.zeros(4, 2, dtype=torch.bool), mask)
    a, b = chunk.shard(0, 2), chunk.shard(1, 2)
    assert (a.offset, b.offset) == (0, 2)
    assert a.batch_targets.tolist() == b.batch_targets.tolist() == [1, 2, 5, 7, 8]
    assert b.targets[b.mask].tolist() == b.batch_targets[b.offset :].tolist()
    assert (a.loss_weight(), b.loss_weight()) == (2.0, 3.0)
    with pytest.raises(ValueError, match="batch size of at least 5"):
        chunk.shard(0, 5)


# -- the command line: `--nproc 2` reruns the command under torchrun ------------------------


def test_tag_train_on_two_processes_writes_one_run(tmp_path):
    corpus, lines = tag_corpus(3), []
    for sentence, tags in zip(corpus.words, corpus.tags):
        pairs = enumerate(zip(sentence, tags), start=1)
        lines += [f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_" for i, (w, t) in pairs]
        lines.append("")
    data = tmp_path / "tiny.conllu"
    data.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    argv = ["tag", "train", "--train", str(data), "--dev", str(data), "--test", str(data),
            "--epochs", "2", "--word-dim", "6", "--char-dim", "3", "--char-hidden", "3",
            "--hidden-size", "5", "--batch-size", "4", "--threads", "1", "--run", str(run),
            "--nproc", "2"]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0 <= metrics["test"]["accuracy"] <= 1
    assert len(list(run.glob("weights-*.safetensors"))) == 1  # written once, by rank 0
    assert (run / "artifact.json").is_file()


@pytest.mark.slow  # three more interpreters (torchrun and its ranks): 45 s at load 6
def test_recommend_train_on_two_processes_writes_one_run(tmp_path):
    rng = np.random.default_rng(5)
    rows = []
    for day in range(6):
        for u in range(6):
            start, first = day * 86400 + u * 3000, int(rng.integers(12))
            rows += [f"u{u},p{(first + 2 * t) % 12},{start + 90 * t}" for t in range(4)]
    csv = tmp_path / "clicks.csv"
    csv.write_text("user,product,ts\n" + "\n".join(rows) + "\n")
    run = tmp_path / "run"
    argv = ["recommend", "--csv", str(csv), "--user-col", "user", "--item-col", "product",
            "--time-col", "ts", "--test-days", "2", "--val-days", "1", "--epochs", "2",
            "--hidden-size", "8", "--embedding-dim", "8", "--batch-size", "4", "--steps", "2",
            "--loss", "sampled", "--negatives", "4", "--threads", "1", "--no-baselines",
            "--run", str(run), "--nproc", "2"]  # fmt: skip
    assert main(argv) == 0
    assert len(list(run.glob("weights-*.safetensors"))) == 1
    assert (run / "metrics.json").is_file() and (run / "artifact.json").is_file()
