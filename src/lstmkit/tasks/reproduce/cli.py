"""`lstmkit reproduce`: the 1997 long-time-lag experiments from the command line."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from lstmkit.data.validate import check_number_flag, check_output_file
from lstmkit.io import atomic_write
from lstmkit.tasks.options import (
    add_resume_option,
    add_threads_option,
    apply_threads,
    checkpoint_folder,
    resume_hint,
    start_training,
)
from lstmkit.tasks.reproduce.experiments import INITS, MODELS, RunResult, run_experiment
from lstmkit.tasks.reproduce.report import format_table, save_results
from lstmkit.tasks.reproduce.specs import EXPERIMENTS

__all__ = ["Run", "add_reproduce_parser", "plan_runs", "run_reproduce"]

# `all --quick`: every experiment at a size that one run finishes in well under a minute
# on one core when the LSTM solves it; failing models stop at the quick budget.
QUICK_SIZES: dict[str, int | None] = {
    "reber": None,
    "longlag": 100,
    "adding": 50,
    "temporal-order": None,
}
QUICK_BUDGET_MINUTES = 0.75


@dataclass(frozen=True)
class Run:
    """One planned training run."""

    experiment: str
    T: int | None
    model: str
    init: str


def _names(text: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ValueError(
            f"{flag} got {text!r}; give one or more of {', '.join(allowed)}, comma-separated"
        )
    return names


def plan_runs(
    experiment: str,
    *,
    T: int | None = None,
    models: str | None = None,
    inits: str | None = None,
    quick: bool = False,
) -> list[Run]:
    """The runs a command line asks for, in the order they will run.

    Args:
        experiment: one of ``EXPERIMENTS`` or ``all``.
        T: the adding problem's T or the long-lag p; None takes the paper's 100 (or the
            quick size).
        models: comma-separated models; default ``lstm``, or all three for ``all``.
        inits: comma-separated LSTM initialisations; default ``chrono``. GRU and RNN always
            use torch's default initialisation.
        quick: small sizes for a fast check.

    Returns:
        The planned runs.
    """
    if experiment != "all" and experiment not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {experiment!r}; choose {', '.join(EXPERIMENTS)} or all"
        )
    if T is not None and (experiment == "all" or experiment not in ("adding", "longlag")):
        raise ValueError(f"--T sets the size of adding (T) and longlag (p), not of {experiment}")
    default_models = ",".join(MODELS) if experiment == "all" else "lstm"
    model_list = _names(models or default_models, MODELS, "--model")
    init_list = _names(inits or "chrono", INITS, "--init")
    if "lstm" not in model_list and inits is not None and init_list != ["default"]:
        raise ValueError("--init chrono applies to the LSTM only; add lstm to --model")
    experiments = EXPERIMENTS if experiment == "all" else (experiment,)
    runs = []
    for name in experiments:
        size = T if T is not None else (QUICK_SIZES[name] if quick else None)
        for model in model_list:
            for init in init_list if model == "lstm" else ("default",):
                runs.append(Run(name, size, model, init))
    return runs


def add_reproduce_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `lstmkit reproduce` on the top-level command's subparsers."""
    p = subparsers.add_parser(
        "reproduce",
        help="the long-time-lag experiments of Hochreiter & Schmidhuber (1997)",
        description="Train LSTM, GRU or tanh RNN on the experiments of 'Long Short-Term "
        "Memory' (1997), stop at the paper's success criterion or the time budget, and print "
        "our test errors, training sequences and time beside the paper's figures.",
    )
    p.add_argument(
        "experiment",
        nargs="?",
        choices=[*EXPERIMENTS, "all"],
        help="which experiment (with --resume: the interrupted run's)",
    )
    p.add_argument("--T", type=int, help="adding: minimal length T (100); longlag: lag p (100)")
    p.add_argument("--model", help="lstm, gru, rnn, comma-separated (default lstm; all: every one)")
    p.add_argument("--init", help="LSTM initialisation: chrono (default), default, or both")
    p.add_argument("--budget-minutes", type=float, help="wall-time limit per run (20; quick 0.75)")
    p.add_argument("--max-sequences", type=int, help="limit on training sequences per run")
    p.add_argument(
        "--max-wrong",
        type=float,
        help="fraction of test sequences allowed wrong to stop (adding, temporal-order: 0.01)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes and budgets (all: ~10 min)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and training data")
    add_threads_option(
        p, default=1, why="the networks are small, and the threads of one step mostly wait"
    )
    p.add_argument("--out", help="results JSON (default runs/reproduce/EXPERIMENT.json)")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--run",
        metavar="DIR",
        help="run directory: training checkpoints and finished runs, for --resume "
        "(default runs/reproduce/EXPERIMENT)",
    )
    add_resume_option(p)
    p.set_defaults(handler=run_reproduce)
    return p


def run_reproduce(args: argparse.Namespace) -> int:
    """Run the planned experiments, print the table and save the JSON; returns the exit code."""
    if args.experiment is None and not args.resume:
        raise ValueError(f"give an experiment: one of {', '.join(EXPERIMENTS)} or all")
    run_dir = Path(args.run or f"runs/reproduce/{args.experiment}")
    resume = start_training(args, run_dir, "reproduce")  # --resume: the run's options back
    check_number_flag("--T", args.T, low=1, why="the sequence length or time lag")
    check_output_file(args.out or f"runs/reproduce/{args.experiment}.json", "--out")
    runs = plan_runs(
        args.experiment, T=args.T, models=args.model, inits=args.init, quick=args.quick
    )
    budget = args.budget_minutes
    if budget is None:
        budget = QUICK_BUDGET_MINUTES if args.quick else 20.0
    apply_threads(args.threads)
    strict = {} if args.max_wrong is None else {"max_wrong": args.max_wrong}
    log = None if args.quiet else (lambda line: print(line, flush=True))
    results: list[RunResult] = []
    if not resume:  # an earlier run's finished parts are not this run's
        for stale in run_dir.glob("result-*.json"):
            stale.unlink()
    with resume_hint("reproduce", run_dir, args, resume):
        for k, run in enumerate(runs):
            done = run_dir / f"result-{k}.json"
            if resume and done.is_file():  # finished before the interruption
                results.append(RunResult(**json.loads(done.read_text())))
                continue
            folder = checkpoint_folder(run_dir, k)
            again = resume and (folder / "checkpoint.json").is_file()
            results.append(
                run_experiment(
                    run.experiment,
                    T=run.T,
                    model=run.model,
                    init=run.init,
                    budget_minutes=budget,
                    max_sequences=args.max_sequences,
                    seed=args.seed,
                    log=log,
                    checkpoint_dir=folder,
                    resume=again,
                    **strict,
                )
            )
            atomic_write(done, json.dumps(results[-1].to_dict()).encode())
    print(format_table(results, markdown=args.markdown))
    out = args.out or f"runs/reproduce/{args.experiment}.json"
    print(f"saved {save_results(results, out, _command_line(args))}")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, flags in a fixed order, for the JSON file."""
    words = ["lstmkit", "reproduce", args.experiment]
    for flag in ("T", "model", "init", "budget_minutes", "max_sequences", "max_wrong"):
        value = getattr(args, flag)
        if value is not None:
            words += [f"--{flag.replace('_', '-')}", str(value)]
    words += ["--quick"] if args.quick else []
    words += ["--seed", str(args.seed)] if args.seed else []
    return shlex.join(words)
