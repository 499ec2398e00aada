"""`lstmkit export RUN --onnx [--int8] [--opset N]`: a saved run as a verified ONNX model."""

from __future__ import annotations

import argparse
from pathlib import Path

from lstmkit.tasks.options import add_threads_option, apply_threads

__all__ = ["add_export_parser", "run_export"]

MISSING = "lstmkit export needs onnx and onnxruntime: pip install 'lstmkit[export]'"


def add_export_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``export`` on the top-level parser's subcommands (handler `run_export`)."""
    p = subparsers.add_parser(
        "export",
        help="export a saved run to ONNX (checked with onnxruntime), optionally int8",
        description="Write RUN/export/model.onnx (dynamic batch and time, lengths as an "
        "input), checked against lstmkit with onnxruntime on random inputs with mixed "
        "lengths; refuses rather than write a model that differs. --int8 adds "
        "model.int8.onnx and a table of size, latency and the test metric.",
    )
    p.add_argument("run", help="the run directory a task saved (holds artifact.json)")
    p.add_argument("--onnx", action="store_true", help="write ONNX (the one format so far)")
    p.add_argument("--int8", action="store_true", help="also a dynamically quantized int8 model")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 17-21 (default: 17)")
    p.add_argument("--out", help="folder to write to (default: RUN/export)")
    p.add_argument("--steps", type=int, default=50, help="time steps of the latency inputs")
    p.add_argument("--test-dataset", help="classify: embedded test set for the int8 metric")
    p.add_argument("--test-csv", help="classify: a test CSV for the int8 metric")
    add_threads_option(p, default=None, why="threads of torch and onnxruntime")
    p.set_defaults(handler=run_export)
    return p


def run_export(args: argparse.Namespace) -> int:
    """Export the run the parsed flags name; prints the error, the table, the paths."""
    if not args.onnx:
        raise ValueError("choose a format: lstmkit export RUN --onnx [--int8]")
    try:
        from lstmkit.export.api import export_run, format_report
    except ImportError:
        raise ValueError(MISSING) from None
    apply_threads(args.threads)
    run = Path(args.run)
    if not run.is_dir():
        raise ValueError(f"run directory {str(run)!r} does not exist; pass one a task saved")
    data = _test_data(args, run) if args.int8 else None
    report = export_run(
        run, args.out, int8=args.int8, opset=args.opset, test_data=data, steps=args.steps
    )
    print(format_report(report))
    return 0


def _test_data(args: argparse.Namespace, run: Path):
    """The classify test set named by --test-dataset or --test-csv, else None."""
    if args.test_dataset is None and args.test_csv is None:
        return None
    from lstmkit.tasks.classify.cli import load_data
    from lstmkit.tasks.classify.task import Classifier

    clf = Classifier.load(run)
    if args.test_csv is not None:
        return clf.read_csv(args.test_csv)
    options = argparse.Namespace(csv=None, dataset=args.test_dataset, lines_per_passage=10)
    return load_data(options, clf)[1]
