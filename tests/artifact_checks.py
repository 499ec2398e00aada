"""Checks every task's saved artifact must pass: damaged or foreign files are refused by name.

`assert_refuses_damaged_artifacts(load, saved)` copies a saved artifact, damages each copy
one way and asserts that ``load`` raises `ArtifactError` naming the damaged file.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from lstmkit.io import INDEX, ArtifactError, save_artifact


def weights_file(directory: Path) -> Path:
    return directory / json.loads((directory / INDEX).read_text())["weights_file"]


def flip_a_tensor_byte(directory: Path) -> Path:
    """Flip one byte inside the tensor data (past safetensors' JSON header)."""
    path = weights_file(directory)
    data = bytearray(path.read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    middle = 8 + header + (len(data) - 8 - header) // 2
    data[middle] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def truncate_the_weights(directory: Path) -> Path:
    path = weights_file(directory)
    path.write_bytes(path.read_bytes()[:-100])
    return path


def delete_the_config(directory: Path) -> Path:
    index = directory / INDEX
    meta = json.loads(index.read_text())
    del meta["config"]
    index.write_text(json.dumps(meta))
    return index


def assert_refuses_damaged_artifacts(
    load: Callable[[Path], object], saved: Path, tmp_path: Path
) -> None:
    """Each kind of damage to a copy of ``saved`` makes ``load`` raise ArtifactError naming
    the damaged file; a forecast artifact is refused as another kind."""
    for damage, says in (
        (flip_a_tensor_byte, "is corrupt"),
        (truncate_the_weights, "is corrupt"),
        (delete_the_config, r"is missing the fields \['config'\]"),
    ):
        copy = tmp_path / damage.__name__
        shutil.copytree(saved, copy)
        damaged = damage(copy)
        with pytest.raises(ArtifactError, match=says) as error:
            load(copy)
        assert str(damaged) in str(error.value)
    foreign = tmp_path / "forecast"
    save_artifact(foreign, "forecast", {"horizon": 6}, {"w": torch.zeros(3)})
    with pytest.raises(ArtifactError, match="holds a 'forecast' model, not a") as error:
        load(foreign)
    assert str(foreign / INDEX) in str(error.value)
