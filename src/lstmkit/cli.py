"""The one `lstmkit` command: a subcommand per task, bad input as one line and exit code 2."""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Sequence

from lstmkit.tasks.options import apply_config_defaults, rank_argv

__all__ = ["COMMANDS", "main"]

# Subcommand -> (module, function registering its parser, one-line help). Adding a task is
# one line here; its module is imported only when its subcommand runs, so `--help` is fast.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "forecast": (
        "lstmkit.tasks.forecast.cli",
        "add_forecast_parser",
        "forecast a series from a CSV (default: airline passengers)",
    ),
    "generate": ("lstmkit.tasks.generate.cli", "add_generate_parser", "generate text (char/word)"),
    "classify": ("lstmkit.tasks.classify.cli", "add_classify_parser", "classify sequences or text"),
    "tag": ("lstmkit.tasks.tag.cli", "add_tag_parser", "tag words: parts of speech, entities"),
    "translate": ("lstmkit.tasks.translate.cli", "add_translate_parser", "seq2seq: G2P, any TSV"),
    "recommend": ("lstmkit.tasks.recommend.cli", "add_recommend_parser", "next item of a session"),
    "tune": ("lstmkit.tune.cli", "add_tune_parser", "search a task's hyperparameters (Optuna)"),
    "bench": ("lstmkit.bench.cli", "add_bench_parser", "speed benchmark of the engines"),
    "export": ("lstmkit.export.cli", "add_export_parser", "a run to ONNX, checked; int8"),
    "inspect": ("lstmkit.inspect.cli", "add_inspect_parser", "gates, saturation, attributions"),
    "reproduce": (
        "lstmkit.tasks.reproduce.cli",
        "add_reproduce_parser",
        "the 1997 LSTM experiments",
    ),
}

# What bad input raises; anything else is a bug and keeps its traceback.
# A path of the wrong kind (a directory to write to, a file as a folder) is bad input too.
BAD_INPUT = (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError,
             NotADirectoryError)  # fmt: skip


class UsageError(Exception):
    """A command line argparse rejected."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become one line (`lstmkit: error: ...`) instead of usage.

    Abbreviations are off (``--epoch`` must not quietly mean ``--epochs``), and a flag the
    parser does not know is named before argparse can blame the value that follows it.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if args is not None:
            self._refuse_unknown_flags(list(args))
            apply_config_defaults(self, list(args))  # --config FILE: defaults flags override
        return super().parse_known_args(args, namespace)

    def _refuse_unknown_flags(self, args: list[str]) -> None:
        known = set(self._option_string_actions)
        for arg in args:
            if arg == "--":
                return
            if not arg.startswith("--") or arg.split("=", 1)[0] in known:
                if arg in self._subcommands():
                    return  # the rest belongs to the subcommand's own parser
                continue
            flag = arg.split("=", 1)[0]
            close = difflib.get_close_matches(flag, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            self.error(f"unknown option {flag}{hint}")

    def _subcommands(self) -> set[str]:
        return {
            name
            for action in self._actions
            if isinstance(action, argparse._SubParsersAction)
            for name in action.choices
        }


def build_parser(command: str | None = None) -> Parser:
    """The top-level parser, with the full parser of ``command`` and stubs for the others.

    Args:
        command: the subcommand about to run; its module is imported to register its flags.

    Returns:
        The parser.
    """
    parser = Parser(
        prog="lstmkit",
        description="LSTM networks for sequence data: forecasting and more.",
        epilog="Run `lstmkit COMMAND --help` for a command's options.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, (module, register, help_text) in COMMANDS.items():
        if name == command:
            getattr(importlib.import_module(module), register)(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit code: 0 success, 2 bad input, 130 interrupted.
    """
    if argv is None and len(sys.argv) == 1:
        argv = rank_argv()  # a torchrun rank that `--nproc N` started
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    args_list = [a for a in args_list if a != "--debug"]
    command = next((a for a in args_list if not a.startswith("-")), None)
    try:
        args = build_parser(command if command in COMMANDS else None).parse_args(args_list)
        if args.command is None:
            build_parser().print_help()
            return 0
        args.argv = args_list  # the command line as given: `--nproc N` reruns it under torchrun
        return int(args.handler(args) or 0)
    except UsageError as err:
        if debug:
            raise
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2
    except BAD_INPUT as err:
        if debug:
            raise
        print(f"lstmkit: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # training's own says where it stopped and what was saved
        print(f"lstmkit: {str(err) or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
