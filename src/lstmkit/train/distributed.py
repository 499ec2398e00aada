"""What the loop knows of ``torch.distributed``: whether this process is the one that writes."""

from __future__ import annotations

import torch


def is_main_process() -> bool:
    """True for rank 0 of an initialised process group, and for any process without one.

    Under DDP (``torchrun``) every rank trains the same weights; only the main process writes
    checkpoints, the metrics log, progress output and ``main_process_only`` callbacks, so
    the files are written once and never raced for.

    >>> is_main_process()  # no process group here
    True
    """
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
