"""Seeding and capturing the random state of python, numpy and torch, for reproducible runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and every GPU).

    Runs seeded alike on the same machine with the same thread count give bit-identical
    results on the CPU. On CUDA some kernels are nondeterministic unless
    ``torch.use_deterministic_algorithms(True)`` is set, which is left to the caller because
    it is process-wide and makes unsupported ops raise.

    Args:
        seed: a non-negative int.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    # numpy's legacy seeding accepts only 32-bit seeds.
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class RngState:
    """A snapshot of the global generators: python, numpy, torch CPU and, if in use, CUDA.

    Capturing is cheap (a few kilobytes copied), so the training loop takes one after every
    optimizer step and can resume an interrupted epoch exactly.
    """

    python: tuple[Any, ...]
    numpy: tuple[Any, ...]
    torch: torch.Tensor
    cuda: list[torch.Tensor]

    @classmethod
    def capture(cls) -> RngState:
        """Return the current state of every global generator."""
        # Only read CUDA's state when CUDA is already initialised: reading it would otherwise
        # start a CUDA context in CPU-only runs.
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
        return cls(random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda)

    def restore(self) -> None:
        """Put every global generator back in this state."""
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch.set_rng_state(self.torch)
        if self.cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.cuda)

    def to_flat(self, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Split into tensors (for safetensors) and JSON-safe data, keyed under ``prefix``.

        Args:
            prefix: name prefix of the tensors, e.g. "rng".

        Returns:
            ``(tensors, meta)`` to be read back by :meth:`from_flat`.
        """
        version, internal, gauss = self.python
        kind, keys, pos, has_gauss, cached = self.numpy
        tensors = {f"{prefix}.torch": self.torch.clone()}
        for i, state in enumerate(self.cuda):
            tensors[f"{prefix}.cuda.{i}"] = state.clone()
        meta = {
            "python": [version, list(internal), gauss],
            "numpy": [kind, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)],
            "cuda_devices": len(self.cuda),
        }
        return tensors, meta

    @classmethod
    def from_flat(
        cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str
    ) -> RngState:
        """Rebuild a snapshot written by :meth:`to_flat`.

        Raises:
            KeyError: if a tensor or field is missing (the checkpoint reader turns it into a
                CheckpointError).
        """
        version, internal, gauss = meta["python"]
        kind, keys, pos, has_gauss, cached = meta["numpy"]
        numpy_state = (kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached)
        cuda = [tensors[f"{prefix}.cuda.{i}"] for i in range(meta["cuda_devices"])]
        return cls((version, tuple(internal), gauss), numpy_state, tensors[f"{prefix}.torch"], cuda)
