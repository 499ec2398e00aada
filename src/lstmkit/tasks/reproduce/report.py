"""Our results beside the paper's: a text or Markdown table, and a JSON file anyone can diff."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from lstmkit.io import atomic_write
from lstmkit.tasks.reproduce.experiments import RunResult
from lstmkit.tasks.reproduce.paper import CITATION, SIZED, paper_results

__all__ = ["format_table", "load_results", "save_results"]

_HEADER = ("experiment", "setting", "model", "init", "test wrong", "error", "sequences", "time")
_PAPER_HEADER = ("paper LSTM", "paper sequences")


def _row(r: RunResult) -> list[str]:
    verdict = "solved" if r.solved else "NOT solved"
    return [
        r.experiment,
        r.setting,
        r.model,
        r.init,
        f"{r.wrong}/{r.total} ({verdict})",
        f"{r.error_name} {r.error:.3g}",
        f"{r.sequences:,}",
        f"{r.seconds:.0f} s",
    ]


def _paper_cells(r: RunResult) -> list[str]:
    for p in paper_results(r.experiment):
        if p.method == "LSTM" and (r.experiment not in SIZED or p.setting == r.setting):
            return [p.outcome, p.sequences]
    return ["(size not in the paper)", ""]


def _others(results: Sequence[RunResult]) -> list[str]:
    """The paper's non-LSTM rows for the experiments shown, one line each."""
    lines, seen = [], set()
    for r in results:
        for p in paper_results(r.experiment):
            key = (p.experiment, p.method, p.setting)
            if p.method != "LSTM" and key not in seen:
                seen.add(key)
                lines.append(
                    f"{p.experiment} {p.setting}, {p.method}: {p.outcome}, {p.sequences} "
                    f"sequences ({p.source})"
                )
    return lines


def format_table(results: Sequence[RunResult], *, markdown: bool = False) -> str:
    """A table of runs with the paper's LSTM figures beside them, then the paper's other methods.

    Args:
        results: the runs to show, in order.
        markdown: a GitHub Markdown table instead of aligned text.

    Returns:
        The table as one string (no trailing newline).
    """
    header = [*_HEADER, *_PAPER_HEADER]
    rows = [[*_row(r), *_paper_cells(r)] for r in results]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        others = [f"- {line}" for line in _others(results)]
        note = f"Paper: {CITATION}. Other methods in the paper:"
        return "\n".join([*lines, "", note, *others]) if others else "\n".join(lines)
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(len(header))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
            for row in [header, *rows]]  # fmt: skip
    text.insert(1, "  ".join("-" * w for w in widths))
    others = _others(results)
    if others:
        text += ["", f"The paper ({CITATION}), other methods:"] + [f"  {o}" for o in others]
    return "\n".join(text)


def save_results(
    results: Sequence[RunResult], path: str | os.PathLike[str], command: str = ""
) -> Path:
    """Write the runs, the command and the machine to a JSON file; returns its path.

    Args:
        results: the runs.
        path: the file to write (parent folders are created).
        command: the command line that produced them, for the README.

    Returns:
        The path written.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "command": command,
        "paper": CITATION,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.machine(),
        },
        "results": [r.to_dict() for r in results],
    }
    atomic_write(out, (json.dumps(doc, indent=1) + "\n").encode())  # never half-written
    return out


def load_results(path: str | os.PathLike[str]) -> list[RunResult]:
    """Read the runs written by :func:`save_results`.

    Args:
        path: the JSON file.

    Returns:
        The runs, in order.
    """
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or "results" not in doc:
        raise ValueError(f"{path} is not a `lstmkit reproduce` results file (no 'results' key)")
    return [RunResult(**item) for item in doc["results"]]
