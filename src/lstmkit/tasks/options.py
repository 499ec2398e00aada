"""Command-line options every task shares, defined once: threads, seed, run directory, progress.

``--debug`` (full tracebacks) is the top-level parser's, accepted anywhere on the line.
``--config FILE`` (JSON or TOML, e.g. the ``best.json`` of ``lstmkit tune``) gives option
defaults by destination (``hidden_size = 32``); flags on the command line override them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tune extra installs tomli on 3.10
    import tomli as tomllib

__all__ = [
    "add_resume_option",
    "add_run_options",
    "add_threads_option",
    "apply_config_defaults",
    "apply_threads",
    "checkpoint_folder",
    "rank_argv",
    "read_mapping",
    "resume_hint",
    "run_directory",
    "start_training",
]


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
    group.add_argument(
        "--config",
        metavar="FILE",
        help="JSON/TOML of option defaults by name (hidden_size, lr, ...; a `config` table "
        "is read if present, as in `lstmkit tune`'s best.json); flags override it",
    )


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


def read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """A JSON (``.json``) or TOML (any other suffix) file's top-level table.

    Args:
        path: the file.
        what: the option it came from, for the error message (``"--config"``).

    Raises:
        FileNotFoundError: no such file. ValueError: not valid JSON/TOML, or not a table.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file {str(path)!r}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ValueError(f"{what} {path}: not valid {kind}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: the file must hold a table of names to values")
    return data


def apply_config_defaults(parser: argparse.ArgumentParser, args: Sequence[str]) -> None:
    """Make a ``--config FILE`` among ``args`` the parser's defaults, before parsing.

    Called by the command line's parser on its own arguments; explicit flags then override
    the file's values as they override any default. Keys are option destinations.

    Raises:
        ValueError: a key that is not one of the parser's options.
    """
    if "--config" not in parser._option_string_actions:
        return
    path = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
    if path is None:
        return
    data = read_mapping(path, "--config")
    if isinstance(data.get("config"), dict):
        data = data["config"]  # best.json: the settings, beside where they came from
    dests = {a.dest for a in parser._actions} - {"help", "config", "handler"}
    unknown = sorted(set(data) - dests)
    if unknown:
        raise ValueError(
            f"--config {path}: {unknown} are not options of `{parser.prog}`; known: "
            f"{', '.join(sorted(dests))}"
        )
    parser.set_defaults(**data)


# -- resuming an interrupted training from the run directory -------------------------------

OPTIONS_FILE = "resume-options.json"  # the interrupted command's options, for --resume
# Options that may differ on the resuming command line: they do not change the trajectory.
_RESUME_OWN = {"resume", "threads", "progress", "run", "handler", "command", "config", "nproc"}


def add_resume_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--resume``: continue the training that the run directory's checkpoint holds."""
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted training saved in --run DIR exactly where it stopped, "
        "with that run's options (training checkpoints go to DIR/checkpoint* automatically)",
    )


def checkpoint_folder(out: Path, member: int | None = None) -> Path:
    """Where training checkpoints go: ``RUN/checkpoint``, or ``RUN/checkpoint-m`` per member."""
    return out / ("checkpoint" if member is None else f"checkpoint-{member}")


def start_training(args: argparse.Namespace, out: Path, command: str) -> bool:
    """Prepare ``out`` for a training run: clean up, and on ``--resume`` restore the options.

    Removes ``.*.tmp`` files a killed write left in the run directory and its checkpoint
    folders; ``--resume`` puts the options recorded by the interrupted run back into
    ``args``. Nothing is written here: :func:`resume_hint` records a fresh run's options
    once its training really starts, so input refused before that leaves no file.

    Args:
        args: the parsed command line (changed in place on resume).
        out: the run directory.
        command: the subcommand, for messages (``"generate"``).

    Returns:
        Whether to resume.

    Raises:
        ValueError: ``out`` is a file. FileNotFoundError: ``--resume`` on a run directory
            with no interrupted training.
    """
    from lstmkit.io import remove_stale_temporaries

    if out.exists() and not out.is_dir():
        raise ValueError(f"--run {out} is a file, not a directory; give a directory for the run")
    folders = sorted(out.glob("checkpoint*")) if out.is_dir() else []
    for folder in [out, *folders]:
        if folder.is_dir():
            remove_stale_temporaries(folder)
    record = out / OPTIONS_FILE
    if not getattr(args, "resume", False):
        return False
    if not record.is_file() or not folders:
        raise FileNotFoundError(
            f"--resume: {out} holds no interrupted training (no {OPTIONS_FILE} and "
            f"checkpoint); start it without --resume: lstmkit {command} --run "
            f"{shlex.quote(str(out))} ..."
        )
    for name, value in read_mapping(record, "--resume").items():
        if name not in _RESUME_OWN:
            setattr(args, name, value)
    return True


class _RecordRun:
    """At a fresh run's first ``fit``: drop old checkpoints, record the options for --resume."""

    main_process_only = True

    def __init__(self, out: Path, args: argparse.Namespace) -> None:
        self.out, self.done = out, False
        self.options = {
            name: value
            for name, value in vars(args).items()
            if name not in _RESUME_OWN
            and isinstance(value, (str, int, float, bool, list, type(None)))
        }

    def __getattr__(self, hook: str):  # the other hooks do nothing
        if hook.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(hook)

    def on_fit_start(self, trainer) -> None:
        from lstmkit.io import atomic_write

        if self.done:
            return
        self.done = True
        for folder in self.out.glob("checkpoint*"):  # another run's: never to be resumed
            if folder.is_dir():
                shutil.rmtree(folder)
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / OPTIONS_FILE, json.dumps(self.options, indent=1).encode())


@contextmanager
def resume_hint(
    command: str, out: Path, args: argparse.Namespace | None = None, resume: bool = False
) -> Iterator[None]:
    """Around a task's training: record a fresh run's options when training starts, and
    turn Ctrl-C into a message naming the command that resumes it.

    Args:
        command: the subcommand (``"generate"``).
        out: the run directory.
        args: the command line, recorded for ``--resume`` (None: not recorded).
        resume: this run resumes (its options are on record already).

    >>> with resume_hint("generate", Path("runs/x")):
    ...     pass
    """
    from lstmkit.train import TrainingInterrupted
    from lstmkit.train.scope import extra_callbacks

    record = [] if resume or args is None else [_RecordRun(out, args)]
    try:
        with extra_callbacks(*record):
            yield
    except TrainingInterrupted as err:
        if err.checkpoint is None:
            raise
        raise TrainingInterrupted(
            f"interrupted at epoch {err.epoch} step {err.step}; resume with: lstmkit {command} "
            f"--run {shlex.quote(str(out))} --resume",
            err.checkpoint,
            err.epoch,
            err.step,
        ) from None


def add_nproc_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--nproc N``: train on N processes of this machine (DDP through torchrun)."""
    parser.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train: N data-parallel processes on this machine (torchrun --standalone "
        "--nproc-per-node N); several machines: run `torchrun ... -m lstmkit` yourself",
    )


def launch_processes(args: argparse.Namespace) -> int | None:
    """With ``--nproc N`` (N > 1) outside torchrun: rerun this command under torchrun.

    Returns:
        torchrun's exit code, or None when this process should carry on itself (no
        ``--nproc``, N = 1, or already one of torchrun's ranks).
    """
    import os
    import subprocess

    nproc = getattr(args, "nproc", None)
    if nproc is None or nproc == 1 or "LOCAL_RANK" in os.environ:
        return None
    if nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {nproc}")
    argv = list(getattr(args, "argv", None) or sys.argv[1:])
    for i, arg in enumerate(argv):
        if arg == "--nproc":
            del argv[i : i + 2]
            break
        if arg.startswith("--nproc="):
            del argv[i]
            break
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", str(nproc), "-m", "lstmkit"]
    # The command line travels in the environment: torchrun would take `--run` for its own
    # `--run-path` (argparse abbreviations) if it were passed after `-m lstmkit`.
    env = {**os.environ, RANK_ARGV: json.dumps(argv)}
    return subprocess.run(command, check=False, env=env).returncode


# The environment variable that carries `lstmkit ... --nproc N`'s command line to the ranks.
RANK_ARGV = "LSTMKIT_RANK_ARGV"


def rank_argv() -> list[str] | None:
    """The command line a ``--nproc`` launch gave this torchrun rank, or None."""
    import os

    if "LOCAL_RANK" not in os.environ or RANK_ARGV not in os.environ:
        return None
    return list(json.loads(os.environ[RANK_ARGV]))
