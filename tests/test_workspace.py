"""The fused engine's workspace (engines/fused_memory.py): reuse, its cap, displacement."""

import gc

import torch

from lstmkit.engines import fused_memory
from lstmkit.engines.fused_memory import GRAIN, MIN_BYTES, Workspace

BIG = 4 * MIN_BYTES // 4  # float32 elements of a 4 MiB buffer


def _pointer(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def test_a_finished_buffer_is_handed_out_again():
    pool = Workspace(64 * MIN_BYTES)
    first = pool.empty(BIG, dtype=torch.float32)
    address = _pointer(first)
    del first
    gc.collect()
    assert pool.idle_bytes == BIG * 4
    again = pool.empty(2, BIG // 2, dtype=torch.float32)  # same bytes, another shape
    assert _pointer(again) == address and pool.idle_bytes == 0


def test_a_buffer_still_referred_to_is_not_reused():
    pool = Workspace(64 * MIN_BYTES)
    first = pool.empty(BIG, dtype=torch.float32)
    view = first[10:20]  # a slice keeps the block, as a retained graph would
    del first
    gc.collect()
    second = pool.empty(BIG, dtype=torch.float32)
    assert _pointer(second) != _pointer(view) and pool.idle_bytes == 0
    view.fill_(1.0)  # still its own memory
    assert second.numel() == BIG


def test_small_buffers_and_a_zero_cap_bypass_the_pool():
    pool = Workspace(64 * MIN_BYTES)
    small = pool.empty(16, dtype=torch.float32)
    del small
    off = Workspace(0)
    big = off.empty(BIG, dtype=torch.float32)
    del big
    gc.collect()
    assert pool.idle_bytes == 0 and off.idle_bytes == 0


def test_idle_blocks_beyond_the_cap_go_back_to_the_system():
    pool = Workspace(3 * MIN_BYTES)  # room for one 2 MiB block, not two
    a = pool.empty(MIN_BYTES // 2, dtype=torch.float32)
    b = pool.empty(MIN_BYTES // 2, dtype=torch.float32)
    del a, b
    gc.collect()
    assert pool.idle_bytes == 2 * MIN_BYTES // GRAIN * GRAIN


def test_a_new_size_displaces_idle_blocks_instead_of_adding_to_them():
    """A request the pool cannot serve releases idle blocks of other sizes, the largest
    first, until as many bytes have gone: idle memory never adds to another workload's."""
    pool = Workspace(64 * MIN_BYTES)
    blocks = [pool.empty(n * MIN_BYTES // 4, dtype=torch.float32) for n in (1, 2, 3)]
    del blocks
    gc.collect()
    assert pool.idle_bytes == 6 * MIN_BYTES
    new = pool.empty(2 * MIN_BYTES // 4 + 1, dtype=torch.float32)  # a size not held: 2 MiB+
    assert pool.idle_bytes == 3 * MIN_BYTES  # the 3 MiB block went (enough), 1 + 2 remain
    del new
    gc.collect()
    assert pool.idle_bytes == 3 * MIN_BYTES + (2 * MIN_BYTES // GRAIN + 1) * GRAIN


def test_the_cap_defaults_to_a_quarter_of_memory(monkeypatch):
    monkeypatch.delenv("LSTMKIT_WORKSPACE_MB", raising=False)
    with open("/proc/meminfo") as f:
        total_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    assert abs(fused_memory.default_keep_bytes() - total_kib * 1024 // 4) < 64 << 20
    monkeypatch.setenv("LSTMKIT_WORKSPACE_MB", "300")
    assert Workspace().keep_bytes == 300 << 20
