"""Large CPU buffers for the fused engine, reused across calls instead of page-faulted anew.

A training step of a large LSTM allocates hundreds of MB (input projections, saved
activations, their gradients). Fresh memory from the OS is zeroed page by page on first
touch, and on a virtual machine that costs about 0.8 ms per MB (measured here: touching
a new 52 MB tensor took 45 ms, refilling it 2 ms), as much as the arithmetic itself. The
workspace keeps the blocks of finished steps and hands them out again.

A block goes back to the pool only when nothing refers to it any more: each tensor is made
from a NumPy view of its block, and a finalizer on that view (which the tensor's storage
keeps alive, with every view or slice of it) returns the block. Buffers kept by a retained
graph, or outputs the caller holds on to, are therefore never reused while alive.
Blocks are anonymous mappings advised as huge pages, which makes the first touch ~3x
cheaper where transparent huge pages are enabled in "madvise" mode.
"""

from __future__ import annotations

import math
import mmap
import os
import threading
import weakref

import numpy as np
import torch
from torch import Tensor

MIN_BYTES = 1 << 20  # smaller buffers come from torch.empty: malloc reuses them well
GRAIN = 1 << 16  # block sizes are rounded up to this, so that repeated shapes share blocks
KEEP_BYTES = int(os.environ.get("LSTMKIT_WORKSPACE_MB", "2048")) << 20  # idle blocks kept


class Workspace:
    """A pool of reusable CPU blocks; `empty` is a drop-in for torch.empty on the CPU."""

    def __init__(self, keep_bytes: int = KEEP_BYTES) -> None:
        self.keep_bytes = keep_bytes
        self._free: dict[int, list[np.ndarray]] = {}
        self._idle = 0
        self._lock = threading.Lock()

    def empty(self, *shape: int, dtype: torch.dtype) -> Tensor:
        """An uninitialised CPU tensor of `shape` and `dtype`, from the pool when large.

        Args:
            shape: the sizes; dtype: the element type.
        Returns:
            A contiguous tensor (its contents are whatever the block held).
        """
        numel = math.prod(shape)
        nbytes = numel * dtype.itemsize
        if nbytes < MIN_BYTES or not self.keep_bytes:
            return torch.empty(shape, dtype=dtype)
        size = -(-nbytes // GRAIN) * GRAIN
        block = self._take(size)
        view = block[:]  # the object whose lifetime is the tensor's
        weakref.finalize(view, self._give_back, size, block)
        return torch.from_numpy(view).view(dtype)[:numel].view(shape)

    def _take(self, size: int) -> np.ndarray:
        with self._lock:
            blocks = self._free.get(size)
            if blocks:
                self._idle -= size
                return blocks.pop()
        memory = mmap.mmap(-1, size)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            memory.madvise(mmap.MADV_HUGEPAGE)
        return np.frombuffer(memory, dtype=np.uint8)

    def _give_back(self, size: int, block: np.ndarray) -> None:
        with self._lock:
            if self._idle + size <= self.keep_bytes:
                self._free.setdefault(size, []).append(block)
                self._idle += size

    def clear(self) -> None:
        """Release every idle block to the operating system."""
        with self._lock:
            self._free.clear()
            self._idle = 0


WORKSPACE = Workspace()
