"""Searching `lstmkit generate`: a trial is one language model, scored on held-out text.

The validation text is the task's own (the held-out plays of the embedded Shakespeare, or
the last ``--text`` file / the last tenth of a single one); each validation round reports
its loss (nats per token) to the trial. Give trials a budget with ``--minutes`` or
``--epochs`` (the task's default is 5 minutes a trial).
"""

from __future__ import annotations

import argparse
from typing import Any

from lstmkit.tasks.generate import cli as generate_cli
from lstmkit.tune.pruning import record_metric, reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 64, "high": 512, "log": True},
        "num_layers": {"low": 1, "high": 2},
        "embedding_dim": [32, 64, 128],
        "dropout": {"low": 0.0, "high": 0.5},
        "lr": {"low": 1e-3, "high": 1e-2, "log": True},
        "bptt": [32, 64, 128],
        "batch_size": [16, 32, 64],
    }
)


def _prepare(args: argparse.Namespace) -> Any:
    from lstmkit.tasks.generate.task import Corpus

    return Corpus.from_files(args.text) if args.text else Corpus.shakespeare()


def _run_trial(args: argparse.Namespace, corpus: Any, trial: Any) -> float:
    from lstmkit.tasks.generate.task import TextGenerator

    config = generate_cli.config_from_args(args)
    with reporting(trial, record_metric("val_loss"), "minimize") as report:
        TextGenerator(config).fit(corpus)
    return report.value()


SEARCH = TaskSearch(
    task="generate",
    space=SPACE,
    metric="val_loss",
    direction="minimize",
    add_parser=generate_cli.add_generate_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
