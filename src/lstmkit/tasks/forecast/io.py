"""Save and load a Forecaster: safetensors weights, JSON state and the series, atomically."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import safetensors.torch

from lstmkit.io import atomic_write
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import SeriesData
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.prep import Preprocessor
from lstmkit.train.checkpoint import CheckpointError, check_state_dict

__all__ = ["load_forecaster", "save_forecaster"]

FORMAT = "lstmkit forecaster"
VERSION = 1
STATE = "forecaster.json"
WEIGHTS = "model.safetensors"
SERIES = "series.csv"


def save_forecaster(forecaster, directory: Path) -> Path:
    """Write ``model.safetensors``, ``series.csv`` and, last, ``forecaster.json``.

    The JSON names the SHA-256 of the weights, so a reader never pairs it with other weights;
    each file is replaced atomically (temporary file, fsync, rename).

    Args:
        forecaster: a fitted Forecaster.
        directory: the run directory, created if missing.

    Returns:
        Path of ``forecaster.json``.
    """
    prep, data = forecaster._fitted(), forecaster.data
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"m{i}.{name}": t.detach().cpu().contiguous()
        for i, model in enumerate(forecaster.models)
        for name, t in model.state_dict().items()
    }
    weights = safetensors.torch.save(tensors)
    frame = pd.DataFrame(data.values, columns=data.columns)
    if data.times is not None:
        frame.insert(0, data.time_column, data.times)
    state = {
        "format": FORMAT,
        "version": VERSION,
        "config": forecaster.config.to_dict(),
        "prep": prep.to_dict(),
        "model_config": forecaster.models[0].config,
        "members": len(forecaster.models),
        "columns": data.columns,
        "num_targets": data.num_targets,
        "time_column": data.time_column,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "history": forecaster.histories,
    }
    atomic_write(directory / WEIGHTS, weights)
    atomic_write(directory / SERIES, frame.to_csv(index=False).encode())
    atomic_write(directory / STATE, json.dumps(state, indent=1, default=_json).encode())
    return directory / STATE


def load_forecaster(directory: Path):
    """Read a run directory written by :func:`save_forecaster`; never unpickles anything.

    Args:
        directory: the run directory.

    Returns:
        The Forecaster, ready to predict and evaluate.

    Raises:
        CheckpointError: (a ValueError) if files are missing, corrupt, or the weights do not
            match the saved model configuration.
    """
    from lstmkit.tasks.forecast.task import Forecaster

    state = _read_state(directory)
    weights_path = directory / WEIGHTS
    try:
        raw = weights_path.read_bytes()
    except OSError:
        raise CheckpointError(
            f"{weights_path} is missing; train again with `lstmkit forecast train`"
        ) from None
    if hashlib.sha256(raw).hexdigest() != state["weights_sha256"]:
        raise CheckpointError(
            f"{weights_path} is corrupt or belongs to another run: its SHA-256 does not match "
            f"{directory / STATE}; train again"
        )
    tensors = safetensors.torch.load(raw)
    try:
        config = ForecastConfig.from_dict(state["config"])
        prep = Preprocessor(**state["prep"])
        models = []
        for i in range(int(state["members"])):
            model = ForecastNet(**state["model_config"])
            prefix = f"m{i}."
            own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            check_state_dict(own, model, f"the weights in {directory}")
            model.load_state_dict(own)
            models.append(model.eval())
    except (TypeError, KeyError) as exc:
        raise CheckpointError(
            f"{directory / STATE} does not describe a forecaster: {exc}"
        ) from None
    forecaster = Forecaster(config)
    forecaster.prep, forecaster.models = prep, models
    forecaster.histories = state.get("history", [])
    forecaster.data = _read_series(directory, state)
    return forecaster


def _read_state(directory: Path) -> dict:
    path = directory / STATE
    if not path.is_file():
        raise CheckpointError(
            f"no saved forecaster in {str(directory)!r} ({STATE} is missing); "
            "run `lstmkit forecast train --out DIR` first"
        )
    try:
        state = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt (not valid JSON: {exc}); train again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an lstmkit forecaster")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} has version {state.get('version')!r}; expected {VERSION}")
    return state


def _read_series(directory: Path, state: dict) -> SeriesData:
    path = directory / SERIES
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CheckpointError(f"{path} cannot be read ({exc}); train again") from None
    columns, tcol = state["columns"], state["time_column"]
    if list(frame.columns) != ([tcol] if tcol else []) + columns:
        raise CheckpointError(f"{path} does not hold the columns {columns}; train again")
    times = None
    if tcol is not None:
        col = frame[tcol]
        times = pd.Index(col if pd.api.types.is_integer_dtype(col) else pd.to_datetime(col))
    values = frame[columns].to_numpy(np.float64)
    return SeriesData(values, columns, int(state["num_targets"]), times, tcol)


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")
