"""Searching `lstmkit classify`: train on most of the training set, score the rest's accuracy.

A stratified share of the training examples (``--test-fraction``, default 0.2, seeded by
``--seed``) is held out as the validation set every trial is scored on; the test set of an
embedded dataset, ``--test-csv`` or the test share of ``--csv`` is never used.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lstmkit.tasks.classify import cli as classify_cli
from lstmkit.tune.pruning import reporting
from lstmkit.tune.registry import TaskSearch
from lstmkit.tune.space import parse_space

SPACE = parse_space(
    {
        "hidden_size": {"low": 16, "high": 256, "log": True},
        "num_layers": {"low": 1, "high": 2},
        "lr": {"low": 3e-4, "high": 1e-2, "log": True},
        "dropout": {"low": 0.0, "high": 0.5},
        "batch_size": [8, 16, 32, 64],
        "ensemble": 1,
    }
)
# The columns of the embedded sets, as `lstmkit classify train` sets them.
EMBEDDED_COLUMNS = getattr(
    classify_cli,
    "_EMBEDDED_COLUMNS",
    {"japanese-vowels": {"label_col": "speaker"}, "genre": {"text_col": "text"}},
)


def _config(args: argparse.Namespace):
    """The ClassifyConfig `lstmkit classify train` would build from ``args``."""
    name = args.dataset if args.csv is None else Path(args.csv).stem
    preset = {} if args.csv else {**classify_cli.PRESETS[name], **EMBEDDED_COLUMNS[name]}
    return classify_cli._config(args, {**preset, **classify_cli._columns(args)})


def _prepare(args: argparse.Namespace) -> Any:
    from lstmkit.tasks.classify.task import Classifier

    train, _test = classify_cli._load(args, Classifier(_config(args)))  # _test is never used
    return classify_cli._split(train, args.test_fraction, args.seed or 0)


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.classify.task import Classifier

    fit_part, val_part = data
    clf = Classifier(_config(args))

    def val_accuracy(trainer: Any, record: dict) -> float:
        # The member being trained alone, on the held-out examples.
        members, training = clf.members, trainer.model.training
        clf.members = [trainer.model.eval()]
        try:
            return float(clf.evaluate(val_part)["accuracy"])
        finally:
            clf.members = members
            trainer.model.train(training)

    with reporting(trial, val_accuracy, "maximize") as report:
        clf.fit(fit_part)
    return report.value()


SEARCH = TaskSearch(
    task="classify",
    space=SPACE,
    metric="val_accuracy",
    direction="maximize",
    add_parser=classify_cli.add_classify_parser,
    prepare=_prepare,
    run_trial=_run_trial,
)
