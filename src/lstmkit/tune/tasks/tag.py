"""Searching `lstmkit tag`: a trial is one tagger, scored on the dev sentences each epoch
(entity F1 for chunk tags, else token accuracy).

The dev set is the embedded dataset's, or ``--dev``; without one, a seeded tenth of the
training sentences is held out. The test set is never used. Contextual string embeddings
are not pretrained per trial: give ``--lm-from DIR`` (the LMs of an earlier `tag train`).
Text vectors (``--text-vectors``, the presets' default) are learnt once for all trials.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
from typing import Any

from lstmkit.tasks.tag import cli as tag_cli
from lstmkit.tune.pruning import reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 32, "high": 256, "log": True},
        "num_layers": {"low": 1, "high": 2},
        "char_hidden": [0, 16, 32, 64],
        "dropout": {"low": 0.0, "high": 0.5},
        "word_dropout": {"low": 0.0, "high": 0.5},
        "lr": {"low": 1e-3, "high": 2e-2, "log": True},
        "batch_size": [16, 32, 64],
    }
)


def dev_score(trainer: Any, record: dict) -> float:
    """The epoch's dev score: entity F1 where the tags are chunks, else token accuracy."""
    for name in ("dev_f1", "dev_accuracy"):
        if name in record:
            return float(record[name])
    raise ValueError(f"the epoch record has no dev score ({sorted(record)})")


def _prepare(args: argparse.Namespace) -> Any:
    from lstmkit.tasks.tag.strings import StringEmbedder

    settings, _name = tag_cli.settings_from_args(args)
    if settings.get("lm_pretrain") and not args.lm_from:
        raise ValueError(
            "lstmkit tune tag does not pretrain character LMs per trial: pass --lm-from DIR "
            "(RUN/lm of an earlier `lstmkit tag train`) or --no-lm"
        )
    train, dev, _test = tag_cli.read_splits(args)  # _test is never used
    if dev is None:
        train, dev = _hold_out(train, 0.1, args.seed or 0)
    strings = StringEmbedder.load(args.lm_from) if args.lm_from else None
    # the text vectors (the presets' default) are learnt once, from the training part
    vectors = tag_cli.learn_vectors(settings, train, tag_cli.config_from_args(args))
    return train, dev, strings, vectors


def _hold_out(data: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """(the rest, a seeded ``fraction`` of the sentences), each in its original order."""
    picked = set(random.Random(seed).sample(range(len(data)), max(1, round(fraction * len(data)))))
    if len(picked) >= len(data):
        raise ValueError("too few training sentences to hold out a dev part; give --dev FILE")

    def part(keep: bool) -> Any:
        index = [i for i in range(len(data)) if (i in picked) == keep]
        return dataclasses.replace(
            data,
            words=[data.words[i] for i in index],
            tags=[data.tags[i] for i in index],
            conllu=None,
        )

    return part(False), part(True)


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.tag.task import Tagger

    train, dev, strings, vectors = data
    with reporting(trial, dev_score, "maximize") as report:
        Tagger(tag_cli.config_from_args(args), strings, vectors).fit(train, dev)
    return report.value()


SEARCH = TaskSearch(
    task="tag",
    space=SPACE,
    metric="dev_score",
    direction="maximize",
    add_parser=tag_cli.add_tag_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
