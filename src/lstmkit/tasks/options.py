"""Command-line options every task shares, defined once: threads, seed, run directory, progress.

``--debug`` (full tracebacks) is the top-level parser's, accepted anywhere on the line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_run_options", "add_threads_option", "apply_threads", "run_directory"]


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    task: str,
    threads: int | None = 1,
    threads_why: str = "these models are small, and the threads of one small step mostly "
    "wait on each other",
    seed: int | None = 0,
    out_alias: bool = True,
) -> None:
    """Add ``--threads``, ``--seed``, ``--out``/``--run`` and ``--progress`` to ``parser``.

    Args:
        parser: the task's subcommand parser.
        task: the task's name, for the default run directory ``runs/<task>-<data>``.
        threads: default torch CPU threads; None leaves torch's own choice.
        threads_why: why that default, shown in ``--help``.
        seed: default seed (None: the task's config decides).
        out_alias: also accept ``--out`` for the run directory (a task whose ``--out``
            names something else, such as a predictions file, says False).
    """
    group = parser.add_argument_group("run")
    add_threads_option(group, default=threads, why=threads_why)
    group.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    group.add_argument(
        *(("--run", "--out") if out_alias else ("--run",)),
        dest="run",
        metavar="DIR",
        help=f"run directory: train writes the model there, the other actions read it "
        f"(default runs/{task}-<dataset>)",
    )
    group.add_argument("--progress", action="store_true", help="show training progress bars")


def add_threads_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    default: int | None,
    why: str,
) -> None:
    """Add ``--threads`` alone, for commands with no seed or run directory (``bench``).

    Args:
        parser: a parser or argument group.
        default: default torch CPU threads; None leaves torch's own choice.
        why: why that default, shown in ``--help``.
    """
    shown = "torch's choice" if default is None else str(default)
    parser.add_argument(
        "--threads", type=int, default=default, help=f"torch CPU threads (default {shown}: {why})"
    )


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU threads from ``--threads`` after checking it."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def run_directory(given: str | None, task: str, data_name: str) -> Path:
    """The run directory: ``--run``/``--out`` if given, else ``runs/<task>-<data_name>``."""
    return Path(given) if given else Path("runs") / f"{task}-{data_name}"
