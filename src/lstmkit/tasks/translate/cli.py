"""`lstmkit translate [train|predict|evaluate]`: seq2seq with attention; G2P by default."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from lstmkit.io import atomic_write, json_safe
from lstmkit.nn.attention import ATTENTIONS
from lstmkit.plots.attention import plot_attention
from lstmkit.tasks.options import (
    add_nproc_option,
    add_resume_option,
    add_run_options,
    apply_threads,
    launch_processes,
    resume_hint,
    run_directory,
    start_training,
)
from lstmkit.train.distributed import is_main_process

from .config import TranslateConfig
from .data import TOKENS, ParallelData, read_tsv, split_items, train_valid_test, write_tsv
from .g2p import SPLIT_SEED, load_cmudict
from .task import Translator

__all__ = ["add_translate_parser", "config_from_args", "read_data", "run_translate"]

# flag -> TranslateConfig field, for the flags that map one to one
_MODEL_FLAGS = (
    "min_freq",
    "embedding_dim",
    "hidden_size",
    "encoder_layers",
    "decoder_layers",
    "attention",
    "dropout",
    "sampling_prob",
    "label_smoothing",
    "batch_size",
    "lr",
    "clip_norm",
    "epochs",
    "minutes",
    "patience",
    "max_val_items",
    "beam_size",
    "length_penalty",
    "max_length_ratio",
    "max_length_extra",
)


_DEFAULTS = TranslateConfig()
_NOTES = {
    "minutes": " (0: no time budget)",
    "beam_size": " (1: greedy)",
    "patience": " validations without a better WER",
}


def add_translate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `lstmkit translate` on the top-level command's subparsers."""
    p = subparsers.add_parser(
        "translate",
        help="sequence to sequence with attention (default: English G2P on CMUdict)",
        description="`translate [train]` trains an encoder-decoder LSTM with attention and "
        "prints WER/PER (and BLEU/chrF for word-level targets) with greedy and beam search; "
        "with no arguments, grapheme-to-phoneme on the embedded CMUdict (the README's "
        "protocol). `translate predict --run DIR --text WORD ...` prints n-best outputs "
        "with scores; `translate evaluate --run DIR [--tsv FILE]` scores a trained run.",
    )
    p.add_argument("action", nargs="?", choices=("train", "predict", "evaluate"), default="train")
    d = p.add_argument_group("data")
    d.add_argument(
        "--tsv",
        metavar="FILE",
        help="pairs, one per line, source<TAB>target "
        "(train: the training data; evaluate: the data to score)",
    )
    d.add_argument(
        "--valid",
        metavar="FILE",
        help="train: validation pairs for early stopping "
        "(default: a seeded tenth of the training sources)",
    )
    d.add_argument(
        "--test",
        metavar="FILE",
        help="train: test pairs (default: a seeded tenth "
        "of the sources, held out before anything else)",
    )
    d.add_argument("--source-col", default="0", help="column number (from 0) or header name")
    d.add_argument("--target-col", default="1", help="column number (from 0) or header name")
    d.add_argument(
        "--tokens",
        choices=TOKENS,
        help="tokens of both sides of a TSV (default char; CMUdict: char -> word)",
    )
    d.add_argument("--source-tokens", choices=TOKENS, help="overrides --tokens for the source")
    d.add_argument("--target-tokens", choices=TOKENS, help="overrides --tokens for the target")
    d.add_argument("--input", metavar="FILE", help="predict: one source per line")
    d.add_argument("--text", nargs="+", metavar="TEXT", help="predict: source texts")
    d.add_argument("--n-best", type=int, default=1, help="predict: outputs per source")
    m = p.add_argument_group("model and training (defaults: TranslateConfig)")
    for name in _MODEL_FLAGS:
        kind = {
            "attention": str,
            "minutes": float,
            "lr": float,
            "dropout": float,
            "sampling_prob": float,
            "label_smoothing": float,
            "clip_norm": float,
            "length_penalty": float,
            "max_length_ratio": float,
        }.get(name, int)
        extra = {"choices": ATTENTIONS} if name == "attention" else {}
        default = getattr(_DEFAULTS, name)
        m.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            help=f"default {default}" + _NOTES.get(name, ""),
            **extra,
        )
    m.add_argument("--unidirectional", action="store_true", help="a one-way encoder")
    m.add_argument(
        "--input-feeding",
        action=argparse.BooleanOptionalAction,
        help=f"feed the previous attentional vector into the decoder (default "
        f"{_DEFAULTS.input_feeding}; without it training runs all decoder steps at once)",
    )
    m.add_argument("--tie-embeddings", action="store_true", help="share the target embedding")
    add_run_options(
        p,
        task="translate",
        threads=None,
        threads_why="the README's measured default ran on both cores of the 2-core machine",
    )
    add_resume_option(p)
    add_nproc_option(p)
    p.set_defaults(handler=run_translate)
    return p


def run_translate(args: argparse.Namespace) -> int:
    """Handler of `lstmkit translate`."""
    launched = launch_processes(args)  # --nproc N: this command again, under torchrun
    if launched is not None:
        return launched
    apply_threads(args.threads)
    if args.action == "predict":
        return _predict(args)
    if args.action == "evaluate":
        return _evaluate(args)
    return _train(args)


def config_from_args(args: argparse.Namespace) -> TranslateConfig:
    """The TranslateConfig `lstmkit translate train` builds from its parsed options."""
    default_data = args.tsv is None
    values: dict[str, Any] = {
        n: getattr(args, n) for n in _MODEL_FLAGS if getattr(args, n) is not None
    }
    if values.get("minutes") == 0:
        values["minutes"] = None
    tokens = args.tokens or ("char" if not default_data else None)
    for side, default in (("source", "char"), ("target", "word")):
        values[f"{side}_tokens"] = getattr(args, f"{side}_tokens") or tokens or default
    values.update(
        bidirectional=not args.unidirectional,
        input_feeding=_DEFAULTS.input_feeding if args.input_feeding is None else args.input_feeding,
        tie_embeddings=args.tie_embeddings,
        seed=args.seed,
        progress=args.progress,
        text_metrics=not default_data,
    )
    return TranslateConfig(**values)


def read_data(
    args: argparse.Namespace,
) -> tuple[ParallelData, ParallelData | None, ParallelData]:
    """(train, valid, test) as `lstmkit translate train` reads them from its parsed options
    (valid None: the Translator holds out a seeded tenth of train)."""
    if args.tsv is None:
        for flag in ("valid", "test"):
            if getattr(args, flag):
                raise ValueError(f"--{flag} needs --tsv (the training pairs) as well")
        train, valid, test = train_valid_test(load_cmudict(), SPLIT_SEED)
        return train, valid, test
    data = read_tsv(args.tsv, args.source_col, args.target_col)
    valid = read_tsv(args.valid, args.source_col, args.target_col) if args.valid else None
    if args.test:
        return data, valid, read_tsv(args.test, args.source_col, args.target_col)
    if valid is None:
        return train_valid_test(data, SPLIT_SEED)
    rest, test = split_items(data, 0.1, SPLIT_SEED)
    return rest, valid, test


def _train(args: argparse.Namespace) -> int:
    run = run_directory(
        args.run, "translate", "cmudict" if args.tsv is None else Path(args.tsv).stem
    )
    resume = start_training(args, run, "translate")  # --resume: the run's own options back
    config = config_from_args(args)
    train, valid, test = read_data(args)
    kinds = f"{config.source_tokens} -> {config.target_tokens}"
    encoder = (
        f"{'Bi' if config.bidirectional else ''}LSTM {config.encoder_layers}x{config.hidden_size}"
    )
    budget = f"{config.minutes:g} min" if config.minutes else f"{config.epochs} epochs"
    print(
        f"translate: {train.name} {len(train):,} / valid {f'{len(valid):,}' if valid else '10%'} / "
        f"test {len(test):,} items, {kinds}; {encoder} encoder, LSTM {config.decoder_layers}x"
        f"{config.hidden_size} decoder, {config.attention} attention"
        f"{', input feeding' if config.input_feeding else ''}; budget {budget}",
        flush=True,
    )
    with resume_hint("translate", run, args, resume):
        model = Translator(config).fit(train, valid, run_dir=run, resume=resume)
    if not is_main_process():
        return 0  # DDP: rank 0 writes the run
    model.save(run)
    atomic_write(run / "test.tsv", write_tsv(test))
    epochs = len(model.history)
    load = "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"trained {model.train_seconds:.0f} s, {epochs} validation(s), best {model.best_epoch}"
        f" (greedy validation WER {_best_wer(model):.2%}); {load}"
    )
    rows, outputs = _score_table(model, test, sorted({1, config.beam_size}))
    _report(model, test, rows, outputs[config.beam_size], run)
    summary = {
        "data": train.name,
        "items": {"train": len(train), "test": len(test)},
        "config": config.to_dict(),
        "train_seconds": round(model.train_seconds, 1),
        "best_epoch": model.best_epoch,
        "load_average_end": os.getloadavg(),
        "test": rows,
    }
    atomic_write(run / "metrics.json", json.dumps(json_safe(summary, "metrics"), indent=1).encode())
    print(f"model: {run}\npredict: lstmkit translate predict --run {run} --text WORD ...")
    return 0


def _best_wer(model: Translator) -> float:
    return min((row["val_wer"] for row in model.history if "val_wer" in row), default=float("nan"))


def _score_table(
    model: Translator, data: ParallelData, beams: list[int]
) -> tuple[list[dict[str, Any]], dict[int, list[str]]]:
    rows, outputs = [], {}
    for beam in beams:
        start = time.monotonic()
        outputs[beam] = model.predict(data, beam_size=beam)
        row = {
            "decoding": "greedy" if beam == 1 else f"beam {beam}",
            **model.score_outputs(outputs[beam], data),
            "seconds": round(time.monotonic() - start, 1),
        }
        rows.append(row)
    header = ["decoding", "WER", "PER"] + (["BLEU", "chrF"] if "bleu" in rows[0] else [])
    print(f"\n{data.name} ({len(data):,} items):")
    print("| " + " | ".join([*header, "seconds"]) + " |\n|" + "---|" * (len(header) + 1))
    for row in rows:
        cells = [row["decoding"], f"{row['wer']:.2%}", f"{row['per']:.2%}"]
        if "bleu" in row:
            cells += [f"{row['bleu']:.2f}", f"{row['chrf']:.2f}"]
        print("| " + " | ".join([*cells, f"{row['seconds']:.0f}"]) + " |")
    if "bleu" in rows[0]:
        print(
            f"sacrebleu signatures: BLEU {rows[0]['bleu_signature']}; chrF "
            f"{rows[0]['chrf_signature']}"
        )
    return rows, outputs


def _report(
    model: Translator, data: ParallelData, rows: list[dict], outputs: list[str], run: Path
) -> None:
    wrong = [i for i, (o, refs) in enumerate(zip(outputs, data.references)) if o not in refs]
    print(f"\nwrong with {rows[-1]['decoding']} ({len(wrong):,}), the first 12:")
    for i in wrong[:12]:
        print(f"  {data.sources[i]}: {outputs[i]}   (reference: {' | '.join(data.references[i])})")
    sample = data.sources[:6]
    best = [t[0] for t in model.translate(sample)]
    items = [
        (
            t.attention.numpy(),
            list(s) if model.config.source_tokens == "char" else s.split(),
            [*t.tokens, "</s>"],
        )
        for s, t in zip(sample, best)
    ]
    path = plot_attention(items, run / "attention.png", title=f"{data.name}: attention")
    print(f"attention of {len(sample)} test items: {path}")
    print(f"learning curve: {run / 'learning_curve.png'}")


def _sources(args: argparse.Namespace) -> list[str]:
    if (args.input is None) == (args.text is None):
        raise ValueError("give the sources with --input FILE (one per line) or --text TEXT ...")
    if args.text is not None:
        return list(args.text)
    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"no input file {str(path)!r}: give a file with one source a line")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError(f"{path} holds no sources (every line is empty)")
    return lines


def _predict(args: argparse.Namespace) -> int:
    model = Translator.load(run_directory(args.run, "translate", "cmudict"))
    sources = _sources(args)
    beam = args.beam_size or model.config.beam_size
    if args.n_best < 1 or args.n_best > beam:
        raise ValueError(f"--n-best must lie in [1, beam size {beam}], got {args.n_best}")
    print("source\trank\tscore\tlog_prob\toutput")
    for source, outs in zip(sources, model.translate(sources, beam_size=beam, n_best=args.n_best)):
        for rank, t in enumerate(outs, 1):
            print(f"{source}\t{rank}\t{t.score:.4f}\t{t.log_prob:.4f}\t{t.text}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    run = run_directory(args.run, "translate", "cmudict")
    model = Translator.load(run)
    if args.tsv:
        data = read_tsv(args.tsv, args.source_col, args.target_col)
    elif (run / "test.tsv").is_file():
        data = read_tsv(run / "test.tsv")  # the test part `train` held out
    else:
        raise FileNotFoundError(f"{run} holds no test.tsv: give the data with --tsv FILE")
    beam = args.beam_size or model.config.beam_size
    _score_table(model, data, sorted({1, beam}))
    return 0
