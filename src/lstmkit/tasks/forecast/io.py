"""A fitted forecaster as one lstmkit artifact (`lstmkit.io`): its weights, state and series.

The artifact's config holds the ForecastConfig, the fitted Preprocessor, the network's
shape and the series' columns; its weights hold every ensemble member (``m<i>.<name>``);
beside them lie the series the model was fitted on (``series.csv``, so that ``predict``
continues it without the original file) and the training histories (``history.json``).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lstmkit.data.validate import EXACT_FLOATS
from lstmkit.io import INDEX, Artifact, ArtifactError, load_artifact, save_artifact
from lstmkit.tasks.forecast.config import ForecastConfig
from lstmkit.tasks.forecast.data import SeriesData
from lstmkit.tasks.forecast.model import ForecastNet
from lstmkit.tasks.forecast.prep import Preprocessor
from lstmkit.train.checkpoint import CheckpointError, check_state_dict

__all__ = ["KIND", "FittedForecast", "load_forecast", "save_forecast"]

KIND = "forecast"
SERIES = "series.csv"
HISTORY = "history.json"
# The single-file format of lstmkit before the shared artifact (read only to say so).
_OLD_STATE = "forecaster.json"


@dataclass
class FittedForecast:
    """What a fitted Forecaster is made of: what `save_forecast` writes and `load_forecast` reads.

    Attributes:
        config: the settings it was fitted with.
        prep: the preprocessing fitted on the training part.
        models: the ensemble's networks, in seed order.
        data: the series it was fitted on.
        histories: each member's per-epoch training metrics.
    """

    config: ForecastConfig
    prep: Preprocessor
    models: list[ForecastNet]
    data: SeriesData
    histories: list[list[dict[str, Any]]] = field(default_factory=list)


def save_forecast(directory: str | os.PathLike[str], fitted: FittedForecast) -> Path:
    """Write ``fitted`` to ``directory`` as one artifact, atomically (see `lstmkit.io`).

    Args:
        directory: the run directory, created if missing.
        fitted: the parts of a fitted Forecaster.

    Returns:
        Path of the artifact's ``artifact.json``.
    """
    data = fitted.data
    tensors = {
        f"m{i}.{name}": t
        for i, model in enumerate(fitted.models)
        for name, t in model.state_dict().items()
    }
    frame = pd.DataFrame(data.values, columns=data.columns)
    if data.times is not None:
        frame.insert(0, data.time_column, data.times)
    config = {
        "forecast": fitted.config.to_dict(),
        "preprocessor": fitted.prep.to_dict(),
        "model": fitted.models[0].config,
        "members": len(fitted.models),
        "series": {
            "columns": data.columns,
            "num_targets": data.num_targets,
            "time_column": data.time_column,
        },
    }
    files = {
        SERIES: frame.to_csv(index=False).encode(),
        HISTORY: json.dumps(fitted.histories, indent=1, default=_plain).encode(),
    }
    return save_artifact(directory, KIND, config, tensors, files)


def load_forecast(directory: str | os.PathLike[str]) -> FittedForecast:
    """Read and verify a forecast artifact; never unpickles anything.

    Args:
        directory: the run directory `save_forecast` wrote.

    Returns:
        The fitted parts, the networks in eval mode.

    Raises:
        ArtifactError: (a ValueError) naming the file that is missing, corrupt, foreign (of
            another task) or inconsistent with the saved configuration.
    """
    folder = Path(directory)
    if not (folder / INDEX).is_file():
        old = (
            "; its forecaster.json is the format before lstmkit's shared artifacts, train again"
            if (folder / _OLD_STATE).is_file()
            else ""
        )
        raise ArtifactError(
            f"no saved forecaster in {str(folder)!r} ({INDEX} is missing{old}); "
            "run `lstmkit forecast train --out DIR` first"
        )
    artifact = load_artifact(folder, KIND)
    index = artifact.path / INDEX
    try:
        state = artifact.config
        config = ForecastConfig.from_dict(state["forecast"])
        prep = Preprocessor(**state["preprocessor"])
        models = _networks(artifact, dict(state["model"]), int(state["members"]))
        series = state["series"]
        data = _series(
            artifact, series["columns"], int(series["num_targets"]), series["time_column"]
        )
    except ArtifactError:
        raise
    except (TypeError, KeyError, ValueError) as exc:  # a field missing or of the wrong kind
        raise ArtifactError(f"{index} does not describe a forecaster: {exc!r}") from None
    histories = json.loads(artifact.text(HISTORY))
    return FittedForecast(config, prep, models, data, histories)


def _networks(artifact: Artifact, shape: dict[str, Any], members: int) -> list[ForecastNet]:
    """Rebuild each member from the saved shape and load its weights, checked first."""
    prefixes = tuple(f"m{i}." for i in range(members))
    strays = sorted(name for name in artifact.tensors if not name.startswith(prefixes))
    if members < 1 or strays:
        raise ArtifactError(
            f"the weights of {artifact.path / INDEX} hold {members} members and {strays[:3]}; "
            "the artifact is inconsistent, train again"
        )
    models = []
    for prefix in prefixes:
        model = ForecastNet(**shape)
        own = {k[len(prefix) :]: v for k, v in artifact.tensors.items() if k.startswith(prefix)}
        try:
            check_state_dict(own, model, f"the weights of {artifact.path / INDEX} ({prefix}*)")
        except CheckpointError as exc:
            raise ArtifactError(str(exc)) from None
        model.load_state_dict(own)
        models.append(model.eval())
    return models


def _series(
    artifact: Artifact, columns: list[str], num_targets: int, time_column: str | None
) -> SeriesData:
    """The saved series, its columns checked against the config."""
    path = artifact.path / SERIES
    try:
        frame = pd.read_csv(io.BytesIO(artifact.file(SERIES)), float_precision=EXACT_FLOATS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} cannot be read ({exc}); train again") from None
    if list(frame.columns) != ([time_column] if time_column else []) + list(columns):
        raise ArtifactError(f"{path} does not hold the columns {columns}; train again")
    times = None
    if time_column is not None:
        col = frame[time_column]
        times = pd.Index(col if pd.api.types.is_integer_dtype(col) else pd.to_datetime(col))
    values = frame[columns].to_numpy(np.float64)
    return SeriesData(values, list(columns), num_targets, times, time_column)


def _plain(value: Any) -> Any:
    """NumPy and torch scalars in a training history as plain Python numbers, for JSON."""
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in JSON")
