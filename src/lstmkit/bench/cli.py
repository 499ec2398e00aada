"""`lstmkit bench speed`: the speed benchmark of the engines against torch.nn, as a command."""

from __future__ import annotations

import argparse

from lstmkit.bench.speed import HEADER, ROWS, SHAPES, machine, run_benchmark, write_json
from lstmkit.data.validate import check_number_flag, check_output_file
from lstmkit.tasks.options import add_threads_option, apply_threads

__all__ = ["add_bench_parser", "run_bench"]


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``bench`` on the top-level parser's subcommands.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers`` returned.

    Returns:
        The new subparser (its handler is ``run_bench``).
    """
    p = subparsers.add_parser(
        "bench",
        help="speed benchmark of the engines against torch.nn",
        description="Time torch.nn.LSTM, lstmkit's eager loop, engine='auto' and the fused "
        "engine (inference and training step) on the issue's configurations, print "
        "milliseconds and ratios, and write JSON.",
    )
    p.add_argument("which", choices=("speed",), help="the benchmark to run")
    p.add_argument(
        "--shapes",
        nargs="+",
        type=int,
        metavar="K",
        help=f"indices of the configurations to run (0-{len(SHAPES) - 1}; default: all)",
    )
    p.add_argument("--rows", nargs="+", choices=list(ROWS), help="rows to run (default: all)")
    p.add_argument("--modes", nargs="+", choices=("inference", "train"), help="default: both")
    add_threads_option(
        p, default=2, why="the speed tables in benchmarks/README.md are measured with 2"
    )
    p.add_argument(
        "--budget", type=float, default=2.0, help="seconds of timing per line (default: 2)"
    )
    p.add_argument(
        "--stat",
        choices=("median", "min"),
        default="median",
        help="statistic printed (the JSON has both; min resists a busy machine)",
    )
    p.add_argument("--json", metavar="PATH", default="speed.json", help="results file")
    p.set_defaults(handler=run_bench)
    return p


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the parsed flags describe; prints the table and writes the JSON."""
    apply_threads(args.threads)
    indices = args.shapes if args.shapes is not None else range(len(SHAPES))
    check_number_flag("--budget", args.budget, low=0, low_open=True, why="seconds per line")
    check_output_file(args.json, "--json")
    bad = [k for k in indices if not 0 <= k < len(SHAPES)]
    if bad:
        raise ValueError(f"--shapes takes indices 0-{len(SHAPES) - 1}, got {bad}")
    print(", ".join(f"{k}: {v}" for k, v in machine().items()))
    print(HEADER.replace("(milliseconds;", f"(milliseconds, {args.stat} of the runs;"))
    results = run_benchmark(
        shapes=tuple(SHAPES[k] for k in indices),
        rows=tuple(args.rows or ROWS),
        modes=tuple(args.modes or ("inference", "train")),
        budget_s=args.budget,
        stat=args.stat,
    )
    write_json(results, args.json)
    print(f"wrote {args.json}")
    return 0
