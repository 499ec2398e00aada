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

How much idle memory it keeps: up to a quarter of the machine's memory
(`LSTMKIT_WORKSPACE_MB` overrides), because a training loop's next step asks for the same
blocks again. With a cap of 2 GB, a step at T=10^5 (B=8, H=128: ~4 GB of buffers) faulted
~3 GB in anew at every step and the loop's step took 9.4-10.2 s against 0.55 s at T=10^4
(x17 for x10); keeping them, 6.3-6.6 s (x9; `python benchmarks/memory.py --T 10000 100000
--impls normal --steps 3`, 2-core AVX2 EPYC, 2026-12-04). So that idle blocks never add to
what another workload needs, a request of a size the pool does not hold first releases
idle blocks of other sizes (the largest first) until as many bytes have gone back to the
system: the pool's footprint grows only with what is in use at once.
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


def default_keep_bytes() -> int:
    """Idle bytes the pool keeps: LSTMKIT_WORKSPACE_MB, else a quarter of physical memory
    (2 GiB where the system does not say)."""
    if os.environ.get("LSTMKIT_WORKSPACE_MB"):
        return int(os.environ["LSTMKIT_WORKSPACE_MB"]) << 20
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


class Workspace:
    """A pool of reusable CPU blocks; `empty` is a drop-in for torch.empty on the CPU."""

    def __init__(self, keep_bytes: int | None = None) -> None:
        self.keep_bytes = default_keep_bytes() if keep_bytes is None else keep_bytes
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
            released = self._release(size)
        del released  # unmapped here, outside the lock, as the arrays go
        memory = mmap.mmap(-1, size)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            memory.madvise(mmap.MADV_HUGEPAGE)
        return np.frombuffer(memory, dtype=np.uint8)

    def _give_back(self, size: int, block: np.ndarray) -> None:
        with self._lock:
            if self._idle + size <= self.keep_bytes:
                self._free.setdefault(size, []).append(block)
                self._idle += size

    def _release(self, nbytes: int) -> list[np.ndarray]:
        """Take idle blocks out of the pool, the largest sizes first, until `nbytes` have
        come out or none is left; the caller drops them once out of the lock."""
        released, freed = [], 0
        for size in sorted(self._free, reverse=True):
            blocks = self._free[size]
            while blocks and freed < nbytes:
                released.append(blocks.pop())
                freed += size
                self._idle -= size
            if not blocks:
                del self._free[size]
            if freed >= nbytes:
                break
        return released

    @property
    def idle_bytes(self) -> int:
        """Bytes of the blocks waiting in the pool."""
        return self._idle

    def clear(self) -> None:
        """Release every idle block to the operating system."""
        with self._lock:
            self._free.clear()
            self._idle = 0


WORKSPACE = Workspace()
