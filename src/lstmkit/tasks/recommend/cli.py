"""`lstmkit recommend [train|evaluate|predict]`: next-item prediction beside its baselines."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

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

from .config import CELLS, LOSSES, REPEATS, RecommendConfig

__all__ = ["PRESET", "add_recommend_parser", "run_recommend"]

# The embedded Online Retail default's model and training settings. The test split was never
# used to choose them; on the validation split (benchmarks/recommend_preset.py: the 30 days
# before the test period, trained on the sessions before those, 6 full epochs) they reach
# Recall@20 0.4235 / MRR@20 0.2113 against sequential rules' 0.4309 / 0.2074: a narrow MRR
# win and a Recall loss. See the README's "Recommendation" section.
PRESET: dict[str, Any] = {
    "batch_size": 128,
    "steps": 4,
    "loss": "sampled",
    "negatives": 512,
    "lr": 3e-3,
    "dropout": 0.1,
    "epochs": 6,
    "max_minutes": 10.0,
    # The default run trains on every session before the test period, as the baselines do.
    "val_days": 0.0,
}
DATASET = "online-retail"
_READING = ("item_col", "session_col", "user_col", "time_col", "quantity_col", "cancel_col")
_FLAGS = {f.name for f in dataclasses.fields(RecommendConfig)} - {"ks", "progress", "seed"}


def add_recommend_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``recommend`` on the top-level parser's subcommands.

    Returns:
        The new subparser (its handler is ``run_recommend``).
    """
    p = subparsers.add_parser(
        "recommend",
        help="next-item recommendation from sessions (default: Online Retail invoices)",
        description="Train a session-based GRU/LSTM recommender (session-parallel mini-batches) "
        "on an event log, split by time, and rank every item at every position of the test "
        "sessions beside popularity, session popularity, sequential-rule and session-kNN "
        "baselines. No arguments: the embedded UCI Online Retail invoices.",
    )
    p.add_argument(
        "action",
        nargs="?",
        default="train",
        choices=("train", "evaluate", "predict"),
        help="train (default) fits and scores; evaluate and predict load --run",
    )
    data = p.add_argument_group("events and sessions (default: the embedded Online Retail log)")
    data.add_argument("--csv", help="event CSV, one row an event (item, session or user, time)")
    data.add_argument("--item-col", help="item column (default 'item')")
    data.add_argument("--session-col", help="session column, e.g. an invoice (default 'session')")
    data.add_argument(
        "--user-col",
        help="user column: sessions are cut from a user's events by "
        "--gap-minutes of inactivity (when no --session-col is given)",
    )
    data.add_argument("--time-col", help="time column: Unix seconds or dates (default 'time')")
    data.add_argument("--gap-minutes", type=float, help="inactivity that ends a session (30)")
    data.add_argument("--quantity-col", help="drop rows whose quantity here is not positive")
    data.add_argument("--cancel-col", help="drop rows where this column is true (1/true/yes)")
    data.add_argument(
        "--repeats",
        choices=REPEATS,
        help="repeated items: keep, collapse runs, "
        "or keep each item's first occurrence (default collapse)",
    )
    data.add_argument("--min-session-length", type=int, help="shorter sessions are dropped (2)")
    data.add_argument("--min-item-support", type=int, help="rarer training items dropped (1)")
    data.add_argument(
        "--test-days",
        type=float,
        help="test: sessions ending in the last N days (30, or a tenth of a shorter log's span)",
    )
    data.add_argument("--val-days", type=float, help="validation: the N days before (= test-days)")
    data.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="retrain on training + validation for the chosen epochs",
    )
    data.add_argument("--items", help="item table CSV (item, description) shown by predict")
    model = p.add_argument_group("model and training (default: the preset for the embedded log)")
    model.add_argument("--cell", choices=CELLS)
    model.add_argument("--loss", choices=LOSSES, help="full softmax, sampled softmax, BPR-max")
    for flag, kind in (
        ("--embedding-dim", int),
        ("--hidden-size", int),
        ("--num-layers", int),
        ("--dropout", float),
        ("--negatives", int),
        ("--sample-alpha", float),
        ("--bpr-reg", float),
        ("--batch-size", int),
        ("--steps", int),
        ("--epochs", int),
        ("--max-minutes", float),
        ("--lr", float),
        ("--weight-decay", float),
        ("--patience", int),
    ):
        model.add_argument(flag, type=kind)
    model.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction, default=None)
    model.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None)
    ev = p.add_argument_group("evaluation and prediction")
    ev.add_argument("--ks", default="5,10,20", help="cut-offs k, comma-separated (5,10,20)")
    ev.add_argument("--no-baselines", action="store_true", help="score the model only")
    ev.add_argument("--session", help="predict: the session so far, items separated by spaces")
    ev.add_argument("--top", type=int, default=10, help="predict: how many items (10)")
    add_run_options(p, task="recommend", seed=0)
    add_resume_option(p)
    add_nproc_option(p)
    p.set_defaults(handler=run_recommend)
    return p


def build_config(args: argparse.Namespace) -> RecommendConfig:
    """The RecommendConfig of the command line: the embedded log's reading and preset, or the
    defaults for a CSV, with every flag given on top."""
    from .data import online_retail_config

    values: dict[str, Any] = {}
    for name in _FLAGS:
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    if args.user_col and not args.session_col:
        values["session_col"] = None
    values["ks"] = _ks(args.ks)
    values.update(seed=args.seed if args.seed is not None else 0, progress=args.progress)
    if args.csv is None:
        return online_retail_config(**{**PRESET, **values})
    return RecommendConfig(**values)


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise ValueError(f"--ks takes whole numbers separated by commas, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise ValueError(f"--ks takes positive whole numbers, got {text!r}")
    return ks


def run_recommend(args: argparse.Namespace) -> int:
    """Handler of `lstmkit recommend`."""
    if args.action == "train":
        launched = launch_processes(args)  # --nproc N: this command again, under torchrun
        if launched is not None:
            return launched
    apply_threads(args.threads)
    if args.action == "predict":
        return _predict(args)
    if args.action == "evaluate":
        return _evaluate(args)
    return _train(args)


def _train(args: argparse.Namespace) -> int:
    from .report import load_sessions, score_run, write_run
    from .task import Recommender

    run = run_directory(args.run, "recommend", _data_name(args))
    resume = start_training(args, run, "recommend")  # on --resume: the recorded options
    name = _data_name(args)
    config = build_config(args)
    if args.items and not Path(args.items).is_file():
        raise FileNotFoundError(f"--items: item table {args.items!r} does not exist")
    train, val, test = load_sessions(args.csv, config)
    _check_test_items(train, val, test, config)
    print(
        f"recommend {name}: {len(train):,} training, {len(val):,} validation and "
        f"{len(test):,} test sessions ({train.events + val.events + test.events:,} events)"
    )
    with resume_hint("recommend", run, args, resume):
        rec = Recommender(config).fit(
            train, val, checkpoints=lambda phase: checkpoint_folder(run, phase), resume=resume
        )
    if not is_main_process():
        return 0  # DDP: rank 0 scores the test set and writes the run
    rec.descriptions = _descriptions(args, rec)
    report = score_run(rec, test, baselines=not args.no_baselines)
    write_run(rec, report, run, title=f"{name} (test: last {config.test_days:g} days)")
    print(f"model, metrics and plot: {run}")
    return 0


def _check_test_items(train, val, test, config: RecommendConfig) -> None:
    """Refuse, before any training, a split whose test sessions the model could not score."""
    from .data import ItemVocabulary

    seen = train + val if config.refit and len(val) else train
    vocab = ItemVocabulary.build(seen.items, config.min_item_support)
    if not vocab.encode_all(test, 2):
        raise ValueError(
            f"no test session keeps 2 items seen in training ({len(test):,} test sessions, "
            f"{len(vocab):,} training items); widen --test-days or lower --min-item-support"
        )


def _data_name(args: argparse.Namespace) -> str:
    return DATASET if args.csv is None else Path(args.csv).stem


def _evaluate(args: argparse.Namespace) -> int:
    from .report import load_sessions, score_run
    from .task import Recommender

    run = run_directory(args.run, "recommend", _data_name(args))
    rec = Recommender.load(run)
    config = dataclasses.replace(rec.config, ks=_ks(args.ks))
    rec.config = config
    train, val, test = load_sessions(args.csv, config)
    rec.trained_on = train + val if config.refit and len(val) else train
    score_run(rec, test, baselines=not args.no_baselines)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .task import Recommender

    if not args.session or not args.session.split():
        raise ValueError('recommend predict needs --session "ITEM ITEM ...": the session so far')
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, got {args.top}")
    run = run_directory(args.run, "recommend", DATASET)
    rec = Recommender.load(run)
    if args.items:
        rec.descriptions = _read_items(args.items)
    items = args.session.replace(",", " ").split()
    unknown = [i for i in items if i not in rec.vocab.index]
    if unknown:
        print(f"not known to the model (skipped): {' '.join(unknown)}")
    top = rec.predict(items, k=args.top)[0]
    print(f"next items after {' '.join(items)} (model in {run}):")
    for rank, item in enumerate(top, 1):
        text = rec.descriptions.get(item, "")
        print(f"{rank:>3}. {item:<12} {text}".rstrip())
    return 0


def _descriptions(args: argparse.Namespace, rec) -> dict[str, str]:
    """The item descriptions kept with the run: --items, or the embedded log's item table."""
    if args.items:
        table = _read_items(args.items)
    elif args.csv is None:
        from lstmkit.data.registry import dataset_file

        table = _read_items(dataset_file("online_retail/items.csv.xz"))
    else:
        return {}
    return {item: table[item] for item in rec.vocab.items if item in table}


def _read_items(path: str | Path) -> dict[str, str]:
    from .data import read_item_table

    if not Path(path).is_file():
        raise FileNotFoundError(f"item table {str(path)!r} does not exist")
    return read_item_table(path)
