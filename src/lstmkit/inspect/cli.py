"""`lstmkit inspect RUN`: gate pictures, saturation, a text cell and attributions of a saved run."""

from __future__ import annotations

import argparse

from lstmkit.tasks.options import add_threads_option, apply_threads

__all__ = ["add_inspect_parser", "run_inspect"]


def _units(text: str) -> list[int]:
    try:
        units = [int(u) for u in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected unit numbers such as 0,5,17, got {text!r}"
        ) from None
    if not units:
        raise argparse.ArgumentTypeError("give at least one unit number")
    return units


def add_inspect_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `lstmkit inspect`."""
    p = subparsers.add_parser(
        "inspect",
        help="gate heatmaps, saturation, a text cell and attributions of a saved run",
        description="Record the gates of a saved run of any task on its validation data (or "
        "--input FILE) and write RUN/inspect/: PNGs, CSVs and a self-contained index.html.",
    )
    p.add_argument("run", metavar="RUN", help="the run directory a task's training wrote")
    p.add_argument("--input", metavar="FILE",
                   help="inspect this file (in the task's input format) instead of the run's "
                   "validation data")  # fmt: skip
    p.add_argument(
        "--units",
        type=_units,
        metavar="U,U,...",
        help="units whose c and h are drawn (default: the 4 that vary most)",
    )
    p.add_argument("--attribution", default="ig", choices=("ig", "grad-x-input", "none"),
                   help="forecasts and classifications: integrated gradients (zero baseline) "
                   "or gradient x input (default ig)")  # fmt: skip
    p.add_argument(
        "--ig-steps",
        type=int,
        default=64,
        help="integrated gradients' trapezoid intervals (default 64)",
    )
    p.add_argument("--example", type=int, default=0, help="the sequence drawn (default 0)")
    p.add_argument("--limit", type=int, default=32, help="sequences run at most (default 32)")
    p.add_argument("--cell", type=int, metavar="UNIT",
                   help="text models: the unit drawn over the text (default: the one most "
                   "correlated with a feature of the text)")  # fmt: skip
    p.add_argument("--feature", help="text models: the feature to find a cell for, e.g. "
                   "'position in line' or 'inside quotes' (default: all)")  # fmt: skip
    p.add_argument(
        "--max-steps",
        type=int,
        metavar="N",
        help="heatmaps: draw the first N steps only (default all)",
    )
    p.add_argument("--out", metavar="DIR", help="the report folder (default RUN/inspect)")
    add_threads_option(p, default=1, why="the recorded pass runs step by step")
    p.set_defaults(handler=run_inspect)
    return p


def run_inspect(args: argparse.Namespace) -> int:
    """Handler of `lstmkit inspect`."""
    from lstmkit.inspect.report import InspectOptions, inspect_run

    apply_threads(args.threads)
    options = InspectOptions(
        input=args.input, units=args.units, attribution=args.attribution,
        ig_steps=args.ig_steps, example=args.example, limit=args.limit, cell=args.cell,
        feature=args.feature, out=args.out, max_steps=args.max_steps,
    )  # fmt: skip
    page = inspect_run(args.run, options)
    print(f"inspect: {page}")
    return 0
