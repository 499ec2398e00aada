"""Searching `lstmkit classify`: train on most of the training set, score the rest's accuracy.

A stratified share of the training examples (``--test-fraction``, default 0.2, seeded by
``--seed``) is held out as the validation set every trial is scored on; the test set of an
embedded dataset, ``--test-csv`` or the test share of ``--csv`` is never used.
"""

from __future__ import annotations

import argparse
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


def _prepare(args: argparse.Namespace) -> Any:
    from lstmkit.tasks.classify.task import Classifier

    reader = Classifier(classify_cli.config_from_args(args))
    train, _test = classify_cli.load_data(args, reader)  # _test is never used
    return classify_cli.split_examples(train, args.test_fraction, args.seed or 0)


def _run_trial(args: argparse.Namespace, data: Any, trial: Any) -> float:
    from lstmkit.tasks.classify.task import Classifier

    fit_part, val_part = data
    clf = Classifier(classify_cli.config_from_args(args))

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
