"""`lstmkit export RUN --onnx [--int8]` on tiny saved runs of every task, trained here."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from lstmkit.cli import main
from lstmkit.export import export_run
from lstmkit.export.accuracy import OnnxNet, task_metric
from lstmkit.export.check import session
from lstmkit.export.tasks import exportable, task_class

pytest.importorskip("onnxruntime")

VERSE = "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
TAGGED = [[("the", "DET"), ("cat", "NOUN"), ("sat", "VERB")],
          [("a", "DET"), ("dog", "NOUN"), ("ran", "VERB"), ("far", "ADV")]] * 6  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread_module")


def _forecast(tmp) -> list[str]:
    t = np.arange(70)
    frame = pd.DataFrame({"sales": 50 + 5 * np.sin(2 * np.pi * t / 12) + 0.2 * t,
                          "price": np.cos(t / 5)})  # fmt: skip
    frame.to_csv(tmp / "s.csv", index=False)
    return ["forecast", "--csv", str(tmp / "s.csv"), "--epochs", "2", "--ensemble", "2",
            "--hidden-size", "6", "--horizon", "4"]  # fmt: skip


def _classify(tmp) -> list[str]:
    rng = np.random.default_rng(0)
    rows = [(s, k, rng.normal(2.0 * (s % 2)), rng.normal(), f"c{s % 2}")
            for s in range(24) for k in range(int(rng.integers(3, 8)))]  # fmt: skip
    columns = ["sequence", "step", "a", "b", "label"]
    pd.DataFrame(rows, columns=columns).to_csv(tmp / "seqs.csv", index=False)
    return ["classify", "--csv", str(tmp / "seqs.csv"), "--epochs", "2", "--hidden-size", "6",
            "--no-baseline"]  # fmt: skip


def _classify_text(tmp) -> list[str]:
    rng = np.random.default_rng(0)
    words = ["the", "a", "of", "and", "then", "we"]
    rows = [(" ".join([*rng.choice(words, 4), key]), key) for key in ["war", "sea"] * 20]
    pd.DataFrame(rows, columns=["review", "label"]).to_csv(tmp / "t.csv", index=False)
    return ["classify", "--csv", str(tmp / "t.csv"), "--text-col", "review", "--epochs", "1",
            "--hidden-size", "6", "--no-baseline"]  # fmt: skip


def _generate(tmp) -> list[str]:
    (tmp / "train.txt").write_text(VERSE * 6)
    (tmp / "val.txt").write_text(VERSE * 2)
    return ["generate", "--text", str(tmp / "train.txt"), str(tmp / "val.txt"), "--minutes",
            "0", "--epochs", "1", "--hidden-size", "12", "--embedding-dim", "8", "--batch-size",
            "4", "--bptt", "16", "--max-length", "5"]  # fmt: skip


def _tag(tmp) -> list[str]:
    lines = []
    for words in TAGGED:
        lines += [f"{i}\t{w}\t_\t{t}\t{t}X\t_\t_\t_\t_\t_" for i, (w, t) in enumerate(words, 1)]
        lines.append("")
    data = tmp / "tiny.conllu"
    data.write_text("\n".join(lines))
    return ["tag", "train", "--train", str(data), "--dev", str(data), "--test", str(data),
            "--epochs", "1", "--word-dim", "8", "--char-dim", "4", "--char-hidden", "4",
            "--hidden-size", "8", "--num-layers", "1"]  # fmt: skip


def _translate(tmp) -> list[str]:
    rng = np.random.default_rng(0)
    words = ["".join(rng.choice(list("abcde"), int(rng.integers(2, 6)))) for _ in range(120)]
    (tmp / "pairs.tsv").write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words))
    return ["translate", "--tsv", str(tmp / "pairs.tsv"), "--source-tokens", "char",
            "--target-tokens", "word", "--epochs", "1", "--minutes", "0", "--hidden-size", "8",
            "--embedding-dim", "8", "--batch-size", "16", "--beam-size", "2"]  # fmt: skip


COMMANDS = {"forecast": _forecast, "classify": _classify, "classify-text": _classify_text,
            "generate": _generate, "tag": _tag, "translate": _translate}  # fmt: skip


def _python_run(kind: str, folder):
    """recommend and reproduce runs through their Python API (their CLIs need bigger data)."""
    if kind == "recommend":
        from lstmkit.tasks.recommend import RecommendConfig, Recommender, Sessions

        rng = np.random.default_rng(0)
        starts = rng.integers(10, size=60)
        sessions = [[f"i{(s + t) % 10}" for t in range(int(rng.integers(3, 9)))] for s in starts]
        log = Sessions(sessions, np.arange(60.0), [str(k) for k in range(60)])
        small = dict(embedding_dim=8, hidden_size=8, batch_size=16, steps=4, dropout=0.0)
        Recommender(RecommendConfig(epochs=1, **small)).fit(log).save(folder)
    else:
        from lstmkit.tasks.reproduce import ReproduceConfig, Reproduction

        config = ReproduceConfig(experiment="adding", T=10, max_sequences=32, seed=0)
        Reproduction(config).fit().save(folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    made = {}
    for name, command in COMMANDS.items():
        folder = tmp / name
        argv = command(tmp)
        flag = "--run" if name in ("tag", "translate") else "--out"
        assert main([*argv, flag, str(folder)]) == 0, name
        made[name] = folder
    for kind in ("recommend", "reproduce"):
        _python_run(kind, tmp / kind)
        made[kind] = tmp / kind
    return made


@pytest.mark.parametrize("name", [*COMMANDS, "recommend", "reproduce"])
def test_every_task_run_exports_and_matches(runs, name, capsys):
    run = runs[name]
    capsys.readouterr()
    assert main(["export", str(run), "--onnx"]) == 0
    printed = capsys.readouterr().out
    assert "max abs error against lstmkit" in printed
    error = float(printed.split("lstmkit ")[1].split()[0])
    assert error < 1e-4
    for stem in ("encoder", "decoder_step") if name == "translate" else ("model",):
        onnx.checker.check_model(onnx.load(run / "export" / f"{stem}.onnx"))
    report = json.loads((run / "export" / "report.json").read_text())
    assert report["max_abs_error"] == pytest.approx(error, rel=0.01, abs=1e-9)


def test_exported_classifier_gives_predict_proba(runs):
    """Oracle: the task's own predict_proba on real test sequences, batched its own way."""
    clf = task_class("classify").load(runs["classify"])
    spec = exportable(clf)
    sess = session(str(runs["classify"] / "export" / "model.onnx"))
    seqs = [np.random.default_rng(k).normal(size=(3 + k % 5, 2)) for k in range(9)]
    expected = clf.predict_proba(seqs)
    encoded = clf._encode(seqs)  # the task's own features and scaling
    lengths = torch.tensor([len(s) for s in encoded])
    x = torch.zeros(len(seqs), int(lengths.max()), encoded[0].shape[-1])
    for k, s in enumerate(encoded):
        x[k, : len(s)] = s
    got = sess.run(None, {"inputs": x.numpy(), "lengths": lengths.numpy()})[0]
    assert list(spec.inputs) == ["inputs", "lengths"]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_exported_forecaster_gives_the_same_test_metrics(runs):
    task = task_class("forecast").load(runs["forecast"])
    sess = session(str(runs["forecast"] / "export" / "model.onnx"))
    onnx_smape = task_metric(task, OnnxNet(sess, ["window"]))
    assert onnx_smape == pytest.approx(task_metric(task), abs=1e-4)


def test_int8_metric_stays_within_its_bound(runs, tmp_path):
    """The README's bound: int8 moves a tiny run's sMAPE by < 2 points, accuracy by < 0.15."""
    report = export_run(runs["forecast"], tmp_path / "fc", int8=True, steps=12)
    eager, float32, int8 = report.rows
    assert float32.metric == pytest.approx(eager.metric, abs=1e-4)
    assert abs(int8.metric - float32.metric) < 2.0
    assert report.int8_share > 0.5 and (tmp_path / "fc" / "model.int8.onnx").is_file()
    from lstmkit.tasks.classify.cli import split_examples

    clf = task_class("classify").load(runs["classify"])
    data = split_examples(clf.read_csv(runs["classify"].parent / "seqs.csv"), 0.2, 0)[1]
    report = export_run(runs["classify"], tmp_path / "cl", int8=True, test_data=data, steps=6)
    assert abs(report.rows[2].metric - report.rows[1].metric) < 0.15
    assert report.rows[1].metric == pytest.approx(report.rows[0].metric)


def test_bad_requests_are_one_line(runs, tmp_path, capsys):
    assert main(["export", str(runs["forecast"])]) == 2
    assert "choose a format: lstmkit export RUN --onnx" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none"), "--onnx"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--onnx"]) == 2
    assert "no artifact.json" in capsys.readouterr().err
    assert main(["export", str(runs["forecast"]), "--onnx", "--opset", "11"]) == 2
    err = capsys.readouterr().err
    assert "opset must be an integer from 17 to 21" in err and err.count("\n") == 1


def test_a_missing_extra_is_named_in_one_line(tmp_path):
    import subprocess
    import sys

    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from lstmkit.cli import main\n"
            f"sys.exit(main(['export', {str(tmp_path)!r}, '--onnx']))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "lstmkit: error: lstmkit export needs onnx and onnxruntime: pip install 'lstmkit[export]'"
    )


class _OnnxSteps:
    """A `StepModel` (lstmkit.nn.beam) running the exported encoder and decoder step."""

    def __init__(self, folder, model) -> None:
        self.bos_id, self.eos_id = model.bos_id, model.eos_id
        self.encoder = session(str(folder / "encoder.onnx"))
        self.decoder = session(str(folder / "decoder_step.onnx"))

    def encode(self, src, src_lengths):
        outs = self.encoder.run(None, {"src": src.numpy(), "src_lengths": src_lengths.numpy()})
        return tuple(outs[:3]), tuple(outs[3:])

    def step(self, tokens, state, memory):
        names = ["tokens", "h", "c", "feed", "outputs", "prepared", "mask"]
        values = [tokens.numpy(), *state, *memory]
        wanted = {i.name for i in self.decoder.get_inputs()}  # `feed` only with input feeding
        inputs = {n: v for n, v in zip(names, values) if n in wanted}
        log_probs, h, c, feed, weights = self.decoder.run(None, inputs)
        return torch.from_numpy(log_probs), (h, c, feed), torch.from_numpy(weights)


def test_exported_translator_decodes_like_the_model(runs):
    """Oracle: greedy decoding through the two onnxruntime graphs picks the model's tokens."""
    from lstmkit.nn.beam import greedy_decode

    model = task_class("translate").load(runs["translate"]).model.eval()
    gen = torch.Generator().manual_seed(3)
    lengths = torch.tensor([5, 2, 4, 1])
    src = torch.randint(3, model.encoder.embedding.num_embeddings, (4, 5), generator=gen)
    src = src.masked_fill(torch.arange(5)[None, :] >= lengths[:, None], model.pad_id)
    expected = greedy_decode(model, src, lengths)
    got = greedy_decode(_OnnxSteps(runs["translate"] / "export", model), src, lengths)
    assert [h.tokens for h in got] == [h.tokens for h in expected]
    for g, e in zip(got, expected):
        assert g.log_prob == pytest.approx(e.log_prob, abs=1e-4)
