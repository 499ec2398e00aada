"""Fixtures the test files share: one CPU thread for small models.

Small models gain nothing from threads, and on a busy machine OpenMP's waiting made tiny
ops 5-10 times slower (~20 ms per op), so most files run on one thread:
`pytestmark = pytest.mark.usefixtures("one_thread")`, or `one_thread_module` where the
file's module-scoped fixtures (trained models) must run on one thread too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


def _on_one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


one_thread = pytest.fixture(_on_one_thread, name="one_thread")
one_thread_module = pytest.fixture(_on_one_thread, name="one_thread_module", scope="module")
