"""Per-epoch metric files (CSV or JSONL) and the tqdm progress bar of the training loop."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lstmkit.io import atomic_write

from .config import TrainConfig


def write_history(path: str | os.PathLike[str], history: list[Mapping[str, Any]]) -> None:
    """Write the per-epoch metrics to ``path``: CSV (``.csv``) or one JSON object a line.

    The whole file is rewritten atomically each epoch (it is small), so after a resume it
    holds exactly the run's history, with no epoch logged twice.

    Args:
        path: destination ending in ``.csv`` or ``.jsonl``; parent folders are created.
        history: one dict per epoch, e.g. ``{"epoch": 1, "train_loss": 0.5, ...}``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".jsonl":
        text = "".join(json.dumps(dict(row)) + "\n" for row in history)
    elif target.suffix == ".csv":
        columns: list[str] = []
        for row in history:
            columns += [k for k in row if k not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        text = buffer.getvalue()
    else:
        raise ValueError(f"log path must end in .csv or .jsonl, got {str(path)!r}")
    atomic_write(target, text.encode())


def read_history(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a metrics file written by :func:`write_history` (numbers come back as floats)."""
    target = Path(path)
    text = target.read_text()
    if target.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = list(csv.DictReader(io.StringIO(text)))
    return [{k: _number(v) for k, v in row.items()} for row in rows]


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def progress_bar(total: int | None, epoch: int, epochs: int, enabled: bool) -> tqdm:
    """Return the bar of one epoch: ``epoch 3/20`` with running loss in the postfix."""
    return tqdm(
        total=total,
        desc=f"epoch {epoch}/{epochs}",
        unit="batch",
        disable=not enabled,
        leave=False,
        dynamic_ncols=True,
    )


def format_metrics(metrics: Mapping[str, Any], keys: Iterable[str] | None = None) -> dict[str, str]:
    """Format metrics compactly for a progress bar postfix (4 significant digits)."""
    chosen = metrics if keys is None else {k: metrics[k] for k in keys if k in metrics}
    out = {}
    for key, value in chosen.items():
        if isinstance(value, float) and math.isfinite(value):
            out[key] = f"{value:.4g}"
        else:
            out[key] = str(value)
    return out


def batch_count(batches: Any) -> int | None:
    """Number of batches if the iterable knows it, else None (the bar then counts up)."""
    try:
        return len(batches)
    except TypeError:
        return None


def report_epoch(history: list[dict[str, Any]], config: TrainConfig) -> None:
    """After each epoch: a summary line (if ``progress``) and the metrics file (if ``log_path``).

    Args:
        history: all epochs so far; the last is the one just finished.
        config: reads ``progress``, ``epochs`` and ``log_path``.
    """
    record = history[-1]
    if config.progress:
        shown = format_metrics(record, [k for k in record if k not in ("epoch", "grad_norm_max")])
        line = " ".join(f"{k}={v}" for k, v in shown.items())
        tqdm.write(f"epoch {record['epoch']}/{config.epochs} {line}")
    if config.log_path:
        write_history(config.log_path, history)


def as_metrics(raw: Any) -> dict[str, float]:
    """Check what ``evaluate`` returned and turn it into ``{name: float}``."""
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"evaluate must return a dict of metric -> number, got {type(raw).__name__}"
        )
    metrics = {}
    for key, value in raw.items():
        try:
            metrics[str(key)] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"evaluate returned {key}={value!r}, which is not a number") from None
    return metrics
