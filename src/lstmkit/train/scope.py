"""Callbacks that code above a task adds to every ``fit`` the task runs, without the task knowing.

A search (``lstmkit tune``) trains through the normal task code, which calls ``fit`` itself;
to hear each epoch's validation metric it wraps the task's ``fit`` in
:func:`extra_callbacks`, and every ``fit`` inside that block runs those callbacks after its
own. Context variables keep the scope to the calling thread and its ``with`` block.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from .callbacks import Callback

__all__ = ["active_callbacks", "extra_callbacks"]

_EXTRA: contextvars.ContextVar[tuple[Callback, ...]] = contextvars.ContextVar(
    "lstmkit_extra_callbacks", default=()
)


@contextmanager
def extra_callbacks(*callbacks: Callback) -> Iterator[None]:
    """Run ``callbacks`` in every ``fit`` called inside the block, after its own.

    Args:
        *callbacks: objects with :class:`Callback`'s hooks.

    >>> from lstmkit.train import Callback
    >>> with extra_callbacks(Callback()):
    ...     len(active_callbacks())
    1
    """
    token = _EXTRA.set(_EXTRA.get() + tuple(callbacks))
    try:
        yield
    finally:
        _EXTRA.reset(token)


def active_callbacks() -> tuple[Callback, ...]:
    """The callbacks the enclosing :func:`extra_callbacks` blocks added (outermost first)."""
    return _EXTRA.get()
