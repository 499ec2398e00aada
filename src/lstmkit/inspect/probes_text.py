"""Probes of the tasks that read tokens: generate, tag, translate, recommend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lstmkit.inspect.probe import Probe, cli_reader, need_input, pad, run_options

__all__ = ["probe_generate", "probe_recommend", "probe_tag", "probe_translate"]

PASSAGE = 600  # characters (tokens) of a generate passage


def _passage(text: str, size: int) -> str:
    """About ``size`` characters of ``text`` from the first line start past its first tenth
    (skipping a title or a header), ending at a line end when one is near."""
    start = text.find("\n", len(text) // 10) + 1 if len(text) > 2 * size else 0
    piece = text[start : start + size]
    end = piece.rfind("\n")
    return piece[: end + 1] if end > size // 2 else piece


def probe_generate(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The language model over a passage of its validation text (the held-out plays, or the
    run's last text file / last lines), or of ``input_file``."""
    from lstmkit.data.text import read_text
    from lstmkit.tasks.generate import Corpus, TextGenerator

    gen = TextGenerator.load(run)
    args = run_options(run)
    if input_file is not None:
        text, source = read_text(input_file), f"a passage of {input_file}"
    else:
        files = getattr(args, "text", None) if args is not None else None
        corpus = Corpus.from_files(files) if files else Corpus.shakespeare()
        text, source = corpus.val, f"a passage of the run's validation text ({corpus.description})"
    tok = gen.tokenizer
    pieces = tok.split(_passage(text, PASSAGE))[:PASSAGE]
    if not pieces:
        raise ValueError(f"{input_file or 'the validation text'} has no text to read")
    x = torch.tensor([[tok.index.get(p, tok.unk_id) for p in pieces]])  # (1, T)
    if input_file is None and args is None and (x == tok.unk_id).float().mean() > 0.2:
        # Saved from Python, no record of its text: the plays are not what it was trained on.
        raise need_input(run, "generate", "text")
    model = gen.model
    return Probe(
        "generate", model, lambda: model(x), np.array([len(pieces)]), source, [pieces],
        tok.level == "char",
    )  # fmt: skip


def probe_tag(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The tagger on the run's dev sentences (`lstmkit tag` runs) or on ``input_file`` (any
    format `lstmkit tag predict` reads). The word BiLSTM's backward layers run over each
    sentence reversed; their records are turned back to the sentence's order."""
    from lstmkit.tasks.tag import Tagger
    from lstmkit.tasks.tag.readers import read_tagged

    tagger = Tagger.load(run)
    if input_file is not None:
        data = read_tagged(input_file, "auto", tagger.config.column, labelled=False)
        source = str(input_file)
    else:
        args = run_options(run)
        if args is None:
            raise need_input(run, "tag", "sentences (CoNLL-U, CoNLL or plain text)")
        splits = cli_reader("lstmkit.tasks.tag.cli", "read_splits", "_read_splits")(args)
        data, source = splits[1] or splits[2], "the run's dev sentences"
        if splits[1] is None:
            source = "the run's test sentences (it trained without a dev set)"
        if data is None:
            raise need_input(run, "tag", "sentences (CoNLL-U, CoNLL or plain text)")
    words = tagger._words(data)[:limit]
    batch = tagger._encode(words, labelled=False).batch(list(range(len(words))))
    model = tagger.model
    probe = Probe(
        "tag", model, lambda: model.emissions(batch), batch.lengths.numpy(), source, words
    )
    chars = batch.char_lengths.numpy()
    probe.layouts = {"encoder.backward_layers": (None, True), "chars.": (chars, False)}
    probe.layouts["chars.rnn.backward_layers"] = (chars, True)
    return probe


def probe_translate(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The encoder over validation sources (the CMUdict validation words for a run trained
    on the embedded dictionary) or the first column of ``input_file`` (one source a line)."""
    from lstmkit.data.batching import pad_sequences
    from lstmkit.tasks.translate import Translator
    from lstmkit.tasks.translate.data import tokenize, train_valid_test
    from lstmkit.tasks.translate.g2p import SPLIT_SEED, load_cmudict

    tr = Translator.load(run)
    if input_file is not None:
        lines = Path(input_file).read_text(encoding="utf-8").splitlines()
        sources = [line.split("\t")[0].strip() for line in lines if line.strip()]
        source = str(input_file)
    elif run_options(run) is not None:
        read = cli_reader("lstmkit.tasks.translate.cli", "read_data", "_data")
        _, valid, test = read(run_options(run))
        sources = (valid if valid is not None else test).sources
        source = "the run's validation pairs"
        if valid is None:
            source = "the run's test pairs (its validation tenth of train is drawn in training)"
    elif tr.data_name.startswith("cmudict"):
        sources = train_valid_test(load_cmudict(), SPLIT_SEED)[1].sources
        source = "the CMUdict validation words"
    else:
        raise need_input(run, "translate", "one source text a line")
    pieces = [tokenize(s, tr.config.source_tokens) for s in sources[:limit]]
    pieces = [p for p in pieces if p]
    if not pieces:
        raise ValueError(f"{source} has no source text to read")
    src, lengths = pad_sequences([torch.tensor(tr.source_vocab.encode(p)) for p in pieces])
    model = tr.model
    return Probe(
        "translate", model, lambda: model.encode(src, lengths), lengths.numpy(), source, pieces,
        tr.config.source_tokens == "char",
    )  # fmt: skip


def probe_recommend(run: Path, input_file: Path | None, limit: int) -> Probe:
    """The session encoder on validation sessions (test sessions when the run kept no
    validation days) of the embedded log, or of ``input_file`` (an event CSV)."""
    from lstmkit.tasks.recommend import Recommender, read_events
    from lstmkit.tasks.recommend.report import load_sessions

    rec = Recommender.load(run)
    args = run_options(run)
    csv = getattr(args, "csv", None) if input_file is None else str(input_file)
    if input_file is not None:
        part, name = read_events(csv, rec.config), "input"  # the user's sessions, unsplit
    else:
        _, val, test = load_sessions(csv, rec.config)
        part, name = (val, "validation") if len(val) else (test, "test")
    encoded = rec.encode(part)[:limit]
    if not encoded:
        raise ValueError(
            f"no {name} session of {csv or 'the embedded log'} keeps 2 items this model "
            "knows; pass --input with an event CSV of the items it was trained on"
        )
    sessions, lengths = pad([torch.from_numpy(np.asarray(s, dtype=np.int64)) for s in encoded])
    model = rec.model
    items = [rec.vocab.decode(s.tolist()) for s in encoded]
    source = f"{len(encoded)} {name} sessions of {csv or 'the embedded log'}"
    return Probe(
        "recommend", model, lambda: model.encode(sessions, lengths), lengths.numpy(), source,
        items,
    )  # fmt: skip
