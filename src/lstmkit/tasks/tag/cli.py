"""`lstmkit tag [train|predict|evaluate]`: train a BiLSTM(-CRF) tagger, apply it, score it."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from lstmkit.io import atomic_write, json_safe
from lstmkit.metrics.tagging import entity_report, format_entity_report
from lstmkit.plots import plot_confusion_matrix
from lstmkit.train.distributed import is_main_process

from ..options import (
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
from .config import TagConfig
from .datasets import DATASETS, SYSTEMS, load_dataset, load_raw_text, load_submission
from .model import OUTPUTS
from .readers import CONLLU_COLUMNS, FORMATS, TaggedSentences, read_lines, read_tagged, write_conll
from .schemes import SCHEMES
from .strings import LMSettings, StringEmbedder
from .task import Tagger
from .text_vectors import text_vectors

__all__ = [
    "PRESETS",
    "add_tag_parser",
    "config_from_args",
    "learn_vectors",
    "read_splits",
    "run_tag",
    "settings_from_args",
]

# Settings of the embedded datasets' default runs (chosen on their dev sets; README);
# flags given on the command line override them. User files start from TagConfig's.
# wnut17's LM minutes fill its 60-minute budget in the worst case: 2 x 15 min of LMs, the
# tagger's 12, the train + dev refit at most 1.3 x 12 (1.3 x the sentences), ~1 to score.
PRESETS: dict[str, dict[str, Any]] = {
    "ud_english_ewt": {"minutes": 12.0, "text_vectors": True, "patience": None},
    "wnut17": {
        "minutes": 12.0,
        "patience": 10,
        "lm_pretrain": True,
        "lm_minutes": 15.0,
        "text_vectors": True,
        "train_with_dev": True,
    },
}
_MODEL_FLAGS = ("word_dim", "char_dim", "char_hidden", "hidden_size", "num_layers", "dropout",
                "output", "min_freq", "word_dropout", "max_length", "epochs", "batch_size",
                "lr", "patience", "minutes", "pretrained", "scheme")  # fmt: skip


_MODEL_HELP = (
    ("word-dim", int, "word embedding width (default 100)"),
    ("char-dim", int, "character embedding width (default 32)"),
    ("char-hidden", int, "character BiLSTM units per direction; 0: none (default 32)"),
    ("hidden-size", int, "word BiLSTM units per direction (default 128)"),
    ("num-layers", int, "word BiLSTM layers (default 1)"),
    ("dropout", float, "dropout around the word BiLSTM (default 0.25)"),
    ("min-freq", int, "rarer training words share the unknown embedding (default 1)"),
    ("word-dropout", float, "alpha of word dropout, 0: off (default 0.25)"),
    ("max-length", int, "longest sentence accepted, in tokens (default 1000)"),
    ("epochs", int, "most epochs (default 40)"),
    ("batch-size", int, "sentences per batch (default 32)"),
    ("lr", float, "Adam rate at the start, cosine to 0 (default 0.01)"),
    ("patience", int, "epochs without a better dev score before stopping (default 5)"),
    ("minutes", float, "training time budget (default: the preset's, else none)"),
)


def add_tag_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `lstmkit tag` on the top-level command's subparsers."""
    p = subparsers.add_parser(
        "tag",
        help="tag words: parts of speech, named entities (default: UD English EWT UPOS)",
        description="`tag [train]` trains a BiLSTM tagger (word embeddings + character "
        "BiLSTM, optional contextual string embeddings from lstmkit's own character LMs, "
        "softmax or CRF output) with early stopping on the dev set and reports test token "
        "accuracy and, for chunk tags, entity precision/recall/F1; with no arguments on the "
        "embedded UD English EWT (UPOS, official split), `--dataset wnut17` for entities. "
        "`tag predict --run DIR --input FILE` tags tokenised text (one sentence a line) or a "
        "CoNLL/CoNLL-U file and writes CoNLL; `tag evaluate --run DIR --test FILE` scores.",
    )
    p.add_argument("action", nargs="?", choices=("train", "predict", "evaluate"), default="train")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="ud_english_ewt",
                      help="embedded dataset, used when --train is not given")  # fmt: skip
    data.add_argument("--train", help="training file (CoNLL-U or CoNLL columns)")
    data.add_argument("--dev", help="dev file for early stopping (default: none, all epochs)")
    data.add_argument("--test", help="test file: scored after training, or by `evaluate`")
    data.add_argument("--input", help="predict: the file to tag (text, CoNLL or CoNLL-U)")
    data.add_argument("--output-file", dest="output_file",
                      help="predict: where to write (default RUN/predictions.conll)")  # fmt: skip
    data.add_argument("--format", choices=FORMATS, default="auto", help="file format")
    data.add_argument("--column", help="tag column: upos, xpos (CoNLL-U) or a 1-based number "
                      "(default upos / the last column)")  # fmt: skip
    data.add_argument(
        "--word-column",
        type=int,
        metavar="N",
        help="CoNLL column files: the token column, 1-based (default 1)",
    )
    data.add_argument("--scheme", choices=("auto", *SCHEMES), help="the tags' chunk scheme")
    m = p.add_argument_group("model and training (defaults: the dataset's preset)")
    m.add_argument("--output", choices=OUTPUTS, help="output layer (default crf)")
    for flag, kind, text in _MODEL_HELP:
        m.add_argument(f"--{flag}", type=kind, help=text)
    m.add_argument("--pretrained", metavar="FILE", help="word vectors (word2vec/GloVe text)")
    m.add_argument("--text-vectors", action=argparse.BooleanOptionalAction, default=None,
                   help="learn word vectors from the raw text (--lm-text, default wnut17's) "
                   "and the training sentences, to start the word embeddings from "
                   "(on for the embedded datasets)")  # fmt: skip
    m.add_argument("--train-with-dev", action=argparse.BooleanOptionalAction, default=None,
                   help="after early stopping on --dev, train a fresh tagger on train + dev "
                   "for the best epoch's number of epochs (on for wnut17)")  # fmt: skip
    lm = p.add_argument_group("contextual string embeddings (character LMs)")
    lm.add_argument(
        "--lm-pretrain",
        action="store_true",
        default=None,
        help="pretrain forward/backward character LMs and feed their states",
    )
    lm.add_argument("--no-lm", action="store_true", help="no LM features (wnut17 has them)")
    lm.add_argument(
        "--lm-text",
        metavar="FILE",
        help="raw text for the LMs and the text vectors (default: wnut17's)",
    )
    lm.add_argument("--lm-from", metavar="DIR", help="reuse the LMs saved in DIR (RUN/lm)")
    lm.add_argument("--lm-minutes", type=float, help="training minutes per LM")
    lm.add_argument("--lm-hidden", type=int, help="LM units (default 256)")
    add_run_options(p, task="tag", out_alias=False)
    add_resume_option(p)
    add_nproc_option(p)
    p.set_defaults(handler=run_tag)
    return p


def run_tag(args: argparse.Namespace) -> int:
    """Handler of `lstmkit tag`."""
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


def settings_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """``(settings, data name)`` of `lstmkit tag train`'s parsed options: the embedded
    dataset's preset (none for user files) with the flags over it, LM settings included."""
    name = args.dataset if args.train is None else Path(args.train).name.split(".")[0]
    values = dict(PRESETS[args.dataset]) if args.train is None else {}
    for key in _MODEL_FLAGS:
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    for key in ("lm_minutes", "lm_hidden", "lm_text", "lm_from", "text_vectors", "train_with_dev"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.lm_pretrain or args.lm_from or args.lm_text:
        values["lm_pretrain"] = True
    if args.no_lm:
        values["lm_pretrain"] = False
    if args.pretrained and args.text_vectors is None:
        values.pop("text_vectors", None)  # the user's vectors over the preset's own
    return values, name


def config_from_args(args: argparse.Namespace) -> TagConfig:
    """The TagConfig `lstmkit tag train` builds from its parsed options."""
    values, _name = settings_from_args(args)
    tag_fields = {f.name for f in dataclasses.fields(TagConfig)}
    return TagConfig(**{k: v for k, v in values.items() if k in tag_fields},
                     column=args.column or "upos",
                     word_column=args.word_column or 1, seed=args.seed or 0,
                     progress=args.progress)  # fmt: skip


def read_splits(args: argparse.Namespace) -> tuple[TaggedSentences | None, ...]:
    """(train, dev, test) as `lstmkit tag train` reads them (dev, test None if not given)."""
    if args.train is None:
        if args.dev or args.test:
            raise ValueError("--dev and --test go with --train FILE; the embedded sets have theirs")
        column = args.column or "upos"
        return tuple(load_dataset(args.dataset, s, column) for s in ("train", "dev", "test"))
    paths = (args.train, args.dev, args.test)
    splits = tuple(read_tagged(p, args.format, args.column, word_column=args.word_column or 1)
                   if p else None for p in paths)  # fmt: skip
    for data in splits:
        _check_column(args.column, data)
    return splits


def _check_column(column: str | None, data: TaggedSentences | None) -> None:
    """A CoNLL-U column name given for a CoNLL column file is a mistake, not "the last"."""
    if data is not None and data.conllu is None and str(column).lower() in CONLLU_COLUMNS:
        raise ValueError(
            f"--column {column} names a CoNLL-U column, but {data.source} is a CoNLL column "
            "file: give the tag column's number (1 is the first; default the last)"
        )


def _strings(values: dict[str, Any], args: argparse.Namespace, run: Path) -> StringEmbedder | None:
    """The character LMs: reused from --lm-from, or pretrained now (and saved in RUN/lm)."""
    if not values.get("lm_pretrain"):
        return None
    if values.get("lm_from"):
        return StringEmbedder.load(values["lm_from"])
    text = _raw_text(values)
    settings = LMSettings(seed=args.seed or 0)
    for key, field in (("lm_minutes", "minutes"), ("lm_hidden", "hidden_size")):
        if key in values:
            setattr(settings, field, values[key])
    print(f"pretraining a forward and a backward character LM on {len(text):,} characters, "
          f"{settings.minutes:g} min each")  # fmt: skip
    embedder = StringEmbedder.pretrain(text, settings, progress=args.progress)
    if is_main_process():  # DDP: every rank trained the same LMs; rank 0 writes them
        embedder.save(run / "lm")
    return embedder


def _raw_text(values: dict[str, Any]) -> str:
    """The unlabelled text of the LMs and the text vectors: --lm-text, else wnut17's."""
    return "\n".join(read_lines(values["lm_text"])) if values.get("lm_text") else load_raw_text()


def learn_vectors(values: dict[str, Any], train: TaggedSentences, config: TagConfig
                  ) -> dict[str, torch.Tensor] | None:  # fmt: skip
    """Word vectors learnt from the raw text and the training sentences, if asked for."""
    if not values.get("text_vectors"):
        return None
    if values.get("pretrained"):
        raise ValueError("--pretrained FILE and --text-vectors both give word vectors; drop one")
    lines = [*_raw_text(values).split("\n"), *(" ".join(s) for s in train.words)]
    print(f"learning {config.word_dim}-wide word vectors from {len(lines):,} lines of raw text")
    return text_vectors(lines, dim=config.word_dim, lowercase=config.lowercase, seed=config.seed)


def _train(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    run = run_directory(args.run, "tag", settings_from_args(args)[1])
    resume = start_training(args, run, "tag")  # --resume: the run's own options back
    values, name = settings_from_args(args)
    train, dev, test = read_splits(args)
    config = config_from_args(args)
    print(f"tag {name}: {len(train)} training, {len(dev) if dev else 0} dev and "
          f"{len(test) if test else 0} test sentences")  # fmt: skip
    if values.get("train_with_dev") and dev is None:
        raise ValueError("--train-with-dev needs a dev set (--dev FILE) to choose the epochs")
    if resume and values.get("lm_pretrain") and (run / "lm").is_dir():
        strings = StringEmbedder.load(run / "lm")  # pretrained before the interruption
    else:
        strings = _strings(values, args, run)
    selected = None  # with --train-with-dev: the tagger trained on train only
    with resume_hint("tag", run, args, resume):
        tagger = Tagger(config, strings, learn_vectors(values, train, config)).fit(
            train, dev, log_dir=run, checkpoint_dir=checkpoint_folder(run), resume=resume
        )
        if values.get("train_with_dev"):
            selected, tagger = tagger, _refit(tagger, train, dev, run, resume)
    if not is_main_process():
        return 0  # DDP: rank 0 writes the run and scores the test set
    seconds = time.perf_counter() - start
    tagger.save(run)
    first = selected or tagger
    report: dict[str, Any] = {"dataset": name, "seconds": round(seconds, 1), "config": values,
                              "scheme": tagger.scheme, "epochs": len(first.history)}  # fmt: skip
    print(f"trained {len(first.history)} epochs; {seconds:.0f} s so far, scheme {tagger.scheme}")
    if selected is not None:
        report["refit_epochs"] = selected.best_epoch()
    if test is not None:
        if selected is not None:
            report["test_train_only"] = _score(selected, test, run, f"{name} test, train only",
                                               "confusion_train_only.png")  # fmt: skip
        report["test"] = _score(tagger, test, run, f"{name} test")
        if name == "wnut17" and args.train is None:
            report["shared_task"] = _shared_task(test)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    atomic_write(run / "metrics.json", json.dumps(json_safe(report, "metrics"), indent=1).encode())
    print(f"total {report['total_seconds']:.0f} s\nmetrics: {run / 'metrics.json'}\nmodel: {run}")
    return 0


def _refit(tagger: Tagger, train: TaggedSentences, dev: TaggedSentences, run: Path,
           resume: bool) -> Tagger:  # fmt: skip
    """--train-with-dev: a fresh tagger on train + dev for the epochs the dev set chose."""
    folder = checkpoint_folder(run, member=1)
    print(f"training again on train + dev ({len(train) + len(dev)} sentences) for "
          f"{tagger.best_epoch()} epochs, the best on dev")  # fmt: skip
    return tagger.refit(train, dev, log_dir=run / "with_dev", checkpoint_dir=folder,
                        resume=resume and folder.is_dir())  # fmt: skip


def _score(tagger: Tagger, data: TaggedSentences, run: Path, title: str,
           png_name: str = "confusion.png") -> dict[str, Any]:  # fmt: skip
    """Evaluate, print the scores, draw the per-tag confusion matrix; the report."""
    report = tagger.evaluate(data)
    print(f"{title}: token accuracy {100 * report['accuracy']:.2f}% on {report['tokens']} tokens")
    if "entities" in report:
        print(format_entity_report(report["entities"]))
    confusion = report["confusion"]
    png = plot_confusion_matrix(confusion["matrix"], confusion["tags"], run / png_name,
                                title=f"{title} (rows: gold)")  # fmt: skip
    print(f"confusion matrix: {png}")
    return report


def _shared_task(test: TaggedSentences) -> dict[str, dict[str, float]]:
    """The seven WNUT 2017 systems' test scores, from their outputs, by the same scorer."""
    print("WNUT 2017 shared-task systems, same scorer:")
    scores = {}
    for system, team in SYSTEMS.items():
        r = entity_report(test.tags, load_submission(system))
        scores[team] = {k: r[k] for k in ("precision", "recall", "f1")}
        print(f"  {team:<14} precision {100 * r['precision']:.2f}  recall "
              f"{100 * r['recall']:.2f}  F1 {100 * r['f1']:.2f}")  # fmt: skip
    return scores


def _run_dir(args: argparse.Namespace) -> Path:
    return run_directory(args.run, "tag", args.dataset)


def _predict(args: argparse.Namespace) -> int:
    if args.input is None:
        raise ValueError("tag predict needs --input FILE: tokenised text or a CoNLL(-U) file")
    run = _run_dir(args)
    tagger = Tagger.load(run)
    if args.max_length:  # a longer limit for this input; the model has no length limit
        tagger.config.max_length = args.max_length
    column = args.column or tagger.config.column
    data = read_tagged(args.input, args.format, column, labelled=False,
                       word_column=args.word_column or tagger.config.word_column)  # fmt: skip
    predicted = tagger.predict(data)
    suffix = ".conllu" if data.conllu is not None else ".conll"
    out = Path(args.output_file) if args.output_file else run / f"predictions{suffix}"
    write_conll(out, data, predicted, column)
    print(f"tag predict: {len(data)} sentences, {sum(map(len, predicted))} tokens of "
          f"{args.input} with the model in {run}\npredictions: {out}")  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.test is None:
        raise ValueError("tag evaluate needs --test FILE: a labelled CoNLL or CoNLL-U file")
    run = _run_dir(args)
    tagger = Tagger.load(run)
    data = read_tagged(args.test, args.format, args.column or tagger.config.column,
                       word_column=args.word_column or tagger.config.word_column)  # fmt: skip
    _check_column(args.column, data)
    _warn_unseen_tags(tagger, data)
    torch.manual_seed(0)
    name = Path(args.test).name
    # Named after the test file: the training run's own confusion.png stays.
    report = _score(tagger, data, run, name, f"confusion_{name.split('.')[0]}.png")
    atomic_write(run / "evaluation.json", json.dumps(json_safe(report, "scores")).encode())
    print(f"scores: {run / 'evaluation.json'}")
    return 0


def _warn_unseen_tags(tagger: Tagger, data: TaggedSentences) -> None:
    """Say so when most test tokens carry tags (entity types, for chunk tags) the model never
    learnt: a wrong --column or model, which would otherwise show only as a low score."""

    def kind(tag: str) -> str:
        return tag if tagger.scheme == "none" else tag.split("-", 1)[-1]

    known = {kind(t) for t in tagger.vocab.tags}
    tokens = [kind(t) for sentence in data.tags for t in sentence]
    unknown = [t for t in tokens if t not in known]
    if len(unknown) > len(tokens) / 2:
        unseen = sorted(set(unknown))
        print(f"lstmkit: warning: most of {data.source}'s tokens have tags this model never "
              f"learnt ({', '.join(unseen[:5])}{', ...' if len(unseen) > 5 else ''}); "
              "check --column and --run", file=sys.stderr)  # fmt: skip
