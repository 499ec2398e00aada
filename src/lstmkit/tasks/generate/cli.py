"""`lstmkit generate`: train a language model on text, or sample from a trained one."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from lstmkit.data.validate import check_number_flag
from lstmkit.io import atomic_write
from lstmkit.tasks.options import (
    add_nproc_option,
    add_resume_option,
    add_run_options,
    apply_threads,
    checkpoint_folder,
    launch_processes,
    resume_hint,
    run_directory,
    start_training,
)
from lstmkit.train.distributed import is_main_process

from .task import HELD_OUT_PLAYS, Corpus, GenerateConfig, TextGenerator

__all__ = ["add_generate_parser", "config_from_args", "run_generate"]

_FLAGS = {f.name for f in dataclasses.fields(GenerateConfig)}


def add_generate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `lstmkit generate` on the top-level command's subparsers."""
    p = subparsers.add_parser(
        "generate",
        help="train a character/word language model and sample text (default: Shakespeare)",
        description="`generate [train]` trains an LSTM language model (default: the embedded "
        f"Shakespeare plays, validated on {', '.join(HELD_OUT_PLAYS)}), prints the validation "
        "loss and a sample; `generate sample --prompt TEXT` samples from a trained run.",
    )
    p.add_argument("action", nargs="?", choices=("train", "sample"), default="train")
    p.add_argument("--text", nargs="+", metavar="FILE", help="training text files; the last "
                   "one validates (a single file: its last 10%% of lines)")  # fmt: skip
    add_run_options(
        p,
        task="generate",
        threads=None,
        threads_why="on a busy machine 1 thread trained 1.8x faster than 2",
    )
    add_resume_option(p)
    add_nproc_option(p)
    t = p.add_argument_group("training (defaults: GenerateConfig)")
    t.add_argument("--level", choices=("char", "word"))
    t.add_argument("--min-freq", type=int)
    t.add_argument("--lowercase", action="store_true", default=None)
    t.add_argument("--embedding-dim", type=int)
    t.add_argument("--hidden-size", type=int)
    t.add_argument("--num-layers", type=int)
    t.add_argument("--dropout", type=float)
    t.add_argument("--tie-weights", action="store_true", default=None)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--bptt", type=int, help="chunk length of truncated BPTT")
    t.add_argument("--lr", type=float)
    t.add_argument("--epochs", type=float, help="passes over the text (bound when --minutes)")
    t.add_argument("--minutes", type=float, help="training time budget (default 5; 0: none)")
    t.add_argument("--eval-every", type=int, help="chunks between validations")
    s = p.add_argument_group("sampling")
    s.add_argument(
        "--prompt",
        help="text to continue (default: a line of the model's own training text, e.g. "
        "'HAMLET.' for Shakespeare)",
    )
    s.add_argument("--max-length", type=int, default=400, help="tokens to generate")
    s.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    s.add_argument("--top-k", type=int)
    s.add_argument("--top-p", type=float)
    s.add_argument("--sample-seed", type=int, default=0)
    p.set_defaults(handler=run_generate)
    return p


def config_from_args(args: argparse.Namespace) -> GenerateConfig:
    """The GenerateConfig `lstmkit generate train` builds from its parsed options."""
    values = {name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None}
    if values.get("minutes") == 0:
        values["minutes"] = None
    if values.get("level") == "word" and "min_freq" not in values:
        values["min_freq"] = 3  # rare words would otherwise fill the softmax
    return GenerateConfig(**values)


def _check_sampling(args: argparse.Namespace) -> None:
    """Refuse sampling flags before any training, naming the flag."""
    check_number_flag("--max-length", args.max_length, low=0)
    check_number_flag("--top-k", args.top_k, low=0, why="0: no limit")
    check_number_flag("--top-p", args.top_p, low=0, high=1, low_open=True)
    if args.temperature != 0:  # 0 is greedy; far from 1 the logits overflow or flatten
        check_number_flag("--temperature", args.temperature, low=1e-3, high=1e3,
                          why="0 means greedy")  # fmt: skip


def _sample(gen: TextGenerator, args: argparse.Namespace) -> str:
    prompt = gen.prompt if args.prompt is None else args.prompt
    return gen.sample(
        prompt, args.max_length, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, seed=args.sample_seed,
    )  # fmt: skip


def run_generate(args: argparse.Namespace) -> int:
    """Handler of `lstmkit generate`."""
    launched = launch_processes(args)  # --nproc N: this command again, under torchrun
    if launched is not None:
        return launched
    apply_threads(args.threads)
    _check_sampling(args)
    out = run_directory(
        args.run, "generate", Path(args.text[0]).stem if args.text else "shakespeare"
    )
    if args.action == "sample":
        gen = TextGenerator.load(out)
        print(_sample(gen, args))
        return 0
    resume = start_training(args, out, "generate")
    config = config_from_args(args)
    corpus = Corpus.from_files(args.text) if args.text else Corpus.shakespeare()
    budget = f"{config.minutes:g} min" if config.minutes else f"{config.epochs or 1:g} epoch(s)"
    print(f"generate: {corpus.description}; {config.level}-level, {config.num_layers}x"
          f"{config.hidden_size} LSTM, budget {budget}")  # fmt: skip
    start = time.monotonic()
    with resume_hint("generate", out, args, resume):
        gen = TextGenerator(config).fit(
            corpus, checkpoint_dir=checkpoint_folder(out), resume=resume
        )
    if not is_main_process():
        return 0  # DDP: rank 0 writes the run
    metrics = dict(gen.history[-1])
    wall = time.monotonic() - start
    gen.save(out)
    chunks = sum(1 for _ in gen.history)
    print(
        f"validation ({len(corpus.val):,} chars of held-out text): "
        f"loss {metrics['val_loss']:.4f} nats/token, perplexity {metrics['val_ppl']:.2f}, "
        f"{metrics['val_bpc']:.4f} bits/char"
    )
    print(f"trained {gen.train_seconds:.0f} s ({chunks} validation rounds), wall {wall:.0f} s")
    sample = _sample(gen, args)
    print("sample:\n" + sample)
    summary = {
        "corpus": corpus.description,
        "config": dataclasses.asdict(config),
        "val_loss": metrics["val_loss"],
        "val_ppl": metrics["val_ppl"],
        "val_bpc": metrics["val_bpc"],
        "train_seconds": round(gen.train_seconds, 1),
        "wall_seconds": round(wall, 1),
        "history": gen.history,
    }
    atomic_write(out / "metrics.json", json.dumps(summary, indent=2).encode())
    atomic_write(out / "sample.txt", sample.encode())
    print(f"model: {out}\nsample again: lstmkit generate sample --run {out} --prompt '...'")
    return 0
