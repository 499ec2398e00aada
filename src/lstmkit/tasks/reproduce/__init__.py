"""Reproduce the long-time-lag experiments of Hochreiter & Schmidhuber (1997), Section 5.

The four generators (embedded Reber grammar, noise-free long lag 2a, adding problem,
temporal order 6a) with fixed seeded test sets, the paper's success criteria, a driver that
trains on lstmkit's loop until the criterion holds or a budget ends, and a table of our
results beside the paper's; `Reproduction` is one run on the Task shape (fit, evaluate,
predict, save, load). From the shell: ``lstmkit reproduce adding --T 500``.
"""

from lstmkit.tasks.reproduce.criteria import (
    adding_correct,
    long_lag_correct,
    reber_correct,
    temporal_order_correct,
)
from lstmkit.tasks.reproduce.experiments import (
    RunResult,
    SequenceNet,
    evaluate_on,
    run_experiment,
)
from lstmkit.tasks.reproduce.generators import (
    TEST_SEED,
    SequenceBatch,
    adding_problem,
    embedded_reber,
    long_lag,
    temporal_order,
)
from lstmkit.tasks.reproduce.paper import PAPER, PaperResult, paper_results
from lstmkit.tasks.reproduce.report import format_table, load_results, save_results
from lstmkit.tasks.reproduce.specs import EXPERIMENTS, Spec, spec_for
from lstmkit.tasks.reproduce.task import ReproduceConfig, Reproduction

__all__ = [
    "EXPERIMENTS",
    "PAPER",
    "TEST_SEED",
    "PaperResult",
    "ReproduceConfig",
    "Reproduction",
    "RunResult",
    "SequenceBatch",
    "SequenceNet",
    "Spec",
    "adding_correct",
    "adding_problem",
    "embedded_reber",
    "evaluate_on",
    "format_table",
    "load_results",
    "long_lag",
    "long_lag_correct",
    "paper_results",
    "reber_correct",
    "run_experiment",
    "save_results",
    "spec_for",
    "temporal_order",
    "temporal_order_correct",
]
