"""Checkpoints: safetensors weights plus a JSON index, written atomically, read without pickle.

A checkpoint is a directory holding two files:

- ``weights-<epoch>-<hash>.safetensors``: every tensor (model weights under ``model.``, the
  best epoch's weights under ``best.``, optimizer buffers under ``optim.``, generator states
  under ``rng.``, a carried recurrent state under ``carry.``);
- ``checkpoint.json``: everything else as plain JSON (model config, TrainConfig, optimizer
  hyperparameters, schedule, history, best metric) plus the name and SHA-256 of the weights.

Saving writes the new weights file under a fresh name, then replaces ``checkpoint.json``:
that one ``os.replace`` is the commit. A crash at any moment leaves the previous index
pointing at its own, untouched weights file. Reading checks the hash before trusting a byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from lstmkit.io import atomic_write, json_safe, storable

from .config import TRAJECTORY_FIELDS, TrainConfig

FORMAT = "lstmkit.train checkpoint"
VERSION = 1
INDEX = "checkpoint.json"
_REQUIRED = ("epoch", "weights_file", "weights_sha256", "train_config", "history")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not belong to this model or run."""


@dataclass
class Checkpoint:
    """A checkpoint read from disk and verified: its JSON ``meta`` and its ``tensors``.

    Attributes:
        path: the ``checkpoint.json`` it was read from.
        meta: the parsed JSON index.
        tensors: every tensor of the weights file, by name.
    """

    path: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    @property
    def epoch(self) -> int:
        """Number of completed epochs."""
        return int(self.meta["epoch"])

    @property
    def model_config(self) -> dict[str, Any] | None:
        """The model config saved by the task, to rebuild the model before loading weights."""
        return self.meta.get("model_config")

    @property
    def train_config(self) -> dict[str, Any]:
        """The TrainConfig of the run, as a dict."""
        return self.meta["train_config"]

    @property
    def history(self) -> list[dict[str, Any]]:
        """Per-epoch metrics up to the checkpoint."""
        return self.meta["history"]

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Return the tensors named ``prefix.*`` with the prefix removed."""
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def weights(self, which: str = "best") -> dict[str, torch.Tensor]:
        """Return a model state dict: "best" (the best epoch, else the last) or "last"."""
        if which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', got {which!r}")
        best = self.group("best") if which == "best" else {}
        return best or self.group("model")

    def check_model(self, model: nn.Module, model_config: Mapping[str, Any] | None = None) -> None:
        """Raise CheckpointError unless the weights fit ``model`` (names and shapes) and the
        saved model config equals ``model_config`` (when both are known)."""
        saved = self.model_config
        if model_config is not None and saved is not None:
            given = json_safe(dict(model_config), "model_config")
            diff = sorted(k for k in set(saved) | set(given) if saved.get(k) != given.get(k))
            if diff:
                pairs = ", ".join(
                    f"{k}: saved {saved.get(k)!r} vs given {given.get(k)!r}" for k in diff
                )
                raise CheckpointError(f"{self.path} was saved for a different model ({pairs})")
        check_state_dict(self.group("model"), model, self.path)

    def check_resumable(self, config: TrainConfig) -> None:
        """Raise CheckpointError if ``config`` changes a field that shapes the trajectory.

        ``epochs``, ``patience``, the budgets ``max_steps`` and ``max_seconds``, paths,
        logging and checkpoint frequency may change (to extend a run, say).
        """
        # A field added after the checkpoint was written had its default value then.
        saved = {**TrainConfig().to_dict(), **self.train_config}
        diff = [f for f in TRAJECTORY_FIELDS if saved.get(f) != getattr(config, f)]
        if diff:
            pairs = ", ".join(
                f"{f}: saved {saved.get(f)!r} vs now {getattr(config, f)!r}" for f in diff
            )
            raise CheckpointError(
                f"cannot resume {self.path} exactly: the TrainConfig differs ({pairs}); "
                "use the saved settings, or start a fresh run with resume=False"
            )


def check_state_dict(weights: Mapping[str, torch.Tensor], model: nn.Module, where: Any) -> None:
    """Raise CheckpointError unless ``weights`` has exactly the model's names and shapes.

    Checked before anything is loaded, because ``load_state_dict`` copies the tensors that
    fit before it complains about the rest, which would leave the model half-overwritten.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{where} does not match {type(model).__name__}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]} ({len(missing)} missing, {len(unexpected)} unexpected)"
        )
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}: {name} has shape {tuple(weights[name].shape)} in the checkpoint but "
                f"{tuple(tensor.shape)} in the model; build the model with the saved model_config"
            )


def write_checkpoint(
    directory: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], meta: dict[str, Any]
) -> Path:
    """Write a checkpoint atomically; the previous one stays valid until the final rename.

    Args:
        directory: created if missing.
        tensors: name to tensor (any device; stored from the CPU).
        meta: JSON-safe data; must contain ``epoch``.

    Returns:
        The path of the new ``checkpoint.json``.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    data = safetensors.torch.save(storable(tensors))
    digest = hashlib.sha256(data).hexdigest()
    # The hash in the name keeps a new file from replacing the one the current index names.
    weights_name = f"weights-{int(meta['epoch']):04d}-{digest[:12]}.safetensors"
    index = {"format": FORMAT, "version": VERSION, **meta}
    index.update(weights_file=weights_name, weights_sha256=digest)
    text = json.dumps(index, indent=1)
    atomic_write(folder / weights_name, data)
    atomic_write(folder / INDEX, text.encode())
    for old in folder.glob("weights-*.safetensors"):
        if old.name != weights_name:
            old.unlink(missing_ok=True)
    return folder / INDEX


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint; never unpickles anything.

    Args:
        path: the checkpoint directory or its ``checkpoint.json``.

    Returns:
        The verified Checkpoint.

    Raises:
        CheckpointError: if files are missing, truncated, modified or not ours.
    """
    index = Path(path)
    if index.is_dir():
        index = index / INDEX
    if not index.is_file():
        raise CheckpointError(f"no checkpoint at {path}: {index} does not exist")
    try:
        meta = json.loads(index.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{index} is corrupt (not valid JSON: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{index} is not an lstmkit training checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{index} has format version {meta.get('version')!r}; "
            f"this lstmkit reads version {VERSION}"
        )
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise CheckpointError(f"{index} is missing the fields {missing}")
    weights = index.parent / str(meta["weights_file"])
    try:
        data = weights.read_bytes()
    except OSError as exc:
        raise CheckpointError(
            f"{index} names {weights.name}, which cannot be read: {exc}"
        ) from None
    if hashlib.sha256(data).hexdigest() != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights} is corrupt: its SHA-256 does not match {index} (truncated or modified)"
        )
    try:
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"{weights} is not a readable safetensors file: {exc}") from None
    return Checkpoint(index, meta, tensors)


def load_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    model_config: Mapping[str, Any] | None = None,
    which: str = "best",
) -> Checkpoint:
    """Load a checkpoint's weights into ``model`` after checking they belong to it.

    Args:
        model: the module to fill; untouched if any check fails.
        path: checkpoint directory or its ``checkpoint.json``.
        model_config: if given, must equal the saved model config.
        which: "best" (the best epoch's weights when saved, else the last) or "last".

    Returns:
        The Checkpoint, e.g. to read ``history`` or ``model_config``.
    """
    checkpoint = read_checkpoint(path)
    checkpoint.check_model(model, model_config)
    weights = checkpoint.weights(which)
    model.load_state_dict(weights)
    return checkpoint
