"""Searching `lstmkit translate`: a trial is one seq2seq model, scored by its greedy WER on
the validation items (``--valid``, else the task's seeded tenth of the training sources).

The test items (``--test``, or the tenth held out before anything else) are never used.
"""

from __future__ import annotations

import argparse
from typing import Any

from lstmkit.nn.attention import ATTENTIONS
from lstmkit.tasks.translate import cli as translate_cli
from lstmkit.tune.pruning import record_metric, reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 64, "high": 512, "log": True},
        "embedding_dim": [32, 64, 128],
        "encoder_layers": {"low": 1, "high": 2},
        "attention": list(ATTENTIONS),
        "dropout": {"low": 0.0, "high": 0.5},
        "label_smoothing": {"low": 0.0, "high": 0.2},
        "lr": {"low": 3e-4, "high": 3e-3, "log": True},
        "batch_size": [32, 64, 128],
    }
)


def _prepare(args: argparse.Namespace) -> Any:
    train, valid, _test = translate_cli.read_data(args)  # _test is never used
    return train, valid


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.translate.task import Translator

    train, valid = data
    config = translate_cli.config_from_args(args)
    with reporting(trial, record_metric("val_wer"), "minimize") as report:
        Translator(config).fit(train, valid)
    return report.value()


SEARCH = TaskSearch(
    task="translate",
    space=SPACE,
    metric="val_wer",
    direction="minimize",
    add_parser=translate_cli.add_translate_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
