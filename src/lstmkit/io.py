"""Atomic writes and the one artifact format every saved lstmkit model and run uses.

An artifact is a directory holding:

- ``artifact.json``: ``format``, ``format_version``, ``kind`` (which task wrote it, e.g.
  "forecast"), the lstmkit version that wrote it, the task's ``config`` as plain JSON, the
  name and SHA-256 of the weights file, and the SHA-256 of every extra file;
- ``weights-<hash>.safetensors``: every tensor (safetensors: no pickle, no code);
- any extra files the task keeps beside (a tokenizer, the training series as CSV, ...).

Writing puts the weights and extra files down first, each atomically, and ``artifact.json``
last: that one rename is the commit, so a crash at any moment leaves the previous artifact
whole. Reading verifies every hash before trusting a byte; anything missing, truncated,
modified or foreign raises :class:`ArtifactError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from lstmkit._version import __version__

__all__ = [
    "INDEX",
    "Artifact",
    "ArtifactError",
    "atomic_write",
    "json_safe",
    "load_artifact",
    "remove_stale_temporaries",
    "save_artifact",
    "storable",
]

FORMAT = "lstmkit artifact"
FORMAT_VERSION = 1
INDEX = "artifact.json"
_REQUIRED = ("kind", "config", "weights_file", "weights_sha256", "files")


class ArtifactError(ValueError):
    """An artifact is missing, corrupt, foreign, or of another kind than asked for."""


@dataclass(frozen=True)
class Artifact:
    """A verified artifact: its config, tensors and extra files, all checked against hashes."""

    path: Path  # the directory
    kind: str
    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    lstmkit_version: str
    files: dict[str, bytes] = field(default_factory=dict)

    def file(self, name: str) -> bytes:
        """The verified bytes of extra file ``name``; ArtifactError if it was not saved."""
        if name not in self.files:
            raise ArtifactError(f"{self.path / INDEX} lists no file {name!r}")
        return self.files[name]

    def text(self, name: str) -> str:
        """Extra file ``name`` decoded as UTF-8."""
        return self.file(name).decode("utf-8")


def save_artifact(
    directory: str | os.PathLike[str],
    kind: str,
    config: Mapping[str, Any],
    tensors: Mapping[str, torch.Tensor],
    files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write an artifact atomically; a previous artifact there stays valid until the last rename.

    Args:
        directory: created if missing.
        kind: what wrote it ("forecast", "classify", ...); `load_artifact` checks it.
        config: JSON data that rebuilds the model (checked with `json_safe`).
        tensors: name to tensor (any device; stored from the CPU).
        files: extra file name to bytes, stored beside and hashed.

    Returns:
        The path of the new ``artifact.json``.
    """
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} is a file; give a directory to save the model in")
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    extra = dict(files or {})
    for name in extra:
        if name == INDEX or "/" in name or name.startswith(("weights-", ".")):
            raise ValueError(f"{name!r} cannot be an extra file name of an artifact")
    data = safetensors.torch.save(storable(tensors))
    digest = hashlib.sha256(data).hexdigest()
    # The hash in the name keeps a new file from replacing the one the current index names.
    weights_name = f"weights-{digest[:16]}.safetensors"
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "lstmkit_version": __version__,
        "config": json_safe(dict(config), f"the {kind} config"),
        "weights_file": weights_name,
        "weights_sha256": digest,
        "files": {name: hashlib.sha256(blob).hexdigest() for name, blob in extra.items()},
    }
    atomic_write(folder / weights_name, data)
    for name, blob in extra.items():
        atomic_write(folder / name, blob)
    atomic_write(folder / INDEX, json.dumps(index, indent=1).encode())
    for old in folder.glob("weights-*.safetensors"):
        if old.name != weights_name:
            old.unlink(missing_ok=True)
    return folder / INDEX


def load_artifact(directory: str | os.PathLike[str], kind: str | None = None) -> Artifact:
    """Read and verify an artifact; never unpickles anything.

    Args:
        directory: the artifact directory (or its ``artifact.json``).
        kind: if given, the artifact must have been written by this kind of task.

    Raises:
        ArtifactError: naming the file that is missing, corrupt, modified or foreign.
    """
    index = Path(directory)
    if index.is_dir():
        index = index / INDEX
    if not index.is_file():
        raise ArtifactError(f"no saved lstmkit model at {directory}: {index} does not exist")
    meta = _read_index(index)
    if kind is not None and meta["kind"] != kind:
        raise ArtifactError(f"{index} holds a {meta['kind']!r} model, not a {kind!r} model")
    weights = _verified_bytes(index, str(meta["weights_file"]), meta["weights_sha256"])
    try:
        tensors = safetensors.torch.load(weights)
    except Exception as exc:  # safetensors raises its own error types
        raise ArtifactError(f"{index.parent / meta['weights_file']} is unreadable: {exc}") from None
    files = {name: _verified_bytes(index, name, sha) for name, sha in meta["files"].items()}
    return Artifact(
        index.parent, meta["kind"], meta["config"], tensors, str(meta["lstmkit_version"]), files
    )


def _read_index(index: Path) -> dict[str, Any]:
    try:
        meta = json.loads(index.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{index} is corrupt (not valid JSON: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(f"{index} is not an lstmkit artifact")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{index} has format version {meta.get('format_version')!r}; this lstmkit "
            f"({__version__}) reads version {FORMAT_VERSION}"
        )
    missing = [k for k in (*_REQUIRED, "lstmkit_version") if k not in meta]
    if missing:
        raise ArtifactError(f"{index} is missing the fields {missing}")
    if not isinstance(meta["config"], dict) or not isinstance(meta["files"], dict):
        raise ArtifactError(f"{index} is corrupt: 'config' and 'files' must be JSON objects")
    return meta


def _verified_bytes(index: Path, name: str, sha256: Any) -> bytes:
    path = index.parent / name
    if Path(name).name != name:
        raise ArtifactError(f"{index} names {name!r}, which is not a file beside it")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{index} names {name}, which cannot be read: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(
            f"{path} is corrupt: its SHA-256 does not match {index} (truncated or modified)"
        )
    return data


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half.

    The bytes go to a temporary file in the same directory (so the rename stays on one file
    system), are flushed and fsynced, then renamed over ``path``; the directory is fsynced
    too so the rename itself survives a power cut. ``path`` being a directory is refused
    before anything is written.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name to write to")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.NAME.PID.tmp`` files a killed `atomic_write` left, if their writer is gone.

    Returns:
        The files removed.
    """
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def storable(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous tensors that safetensors accepts (it refuses ones sharing memory)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int]] = set()
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensor {name!r} to save is a {type(tensor).__name__}")
        t = tensor.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        t = t.contiguous().clone() if key in seen or not t.is_contiguous() else t
        seen.add(key)
        out[name] = t
    return out


def json_safe(value: Any, name: str) -> Any:
    """Return ``value`` after checking it survives a JSON round trip unchanged in meaning.

    Raises:
        TypeError: naming ``name`` if it holds something JSON cannot store.
    """
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must hold only JSON data (dicts, lists, str, numbers, bools, None): {exc}"
        ) from None
