"""The batches the loop makes itself when ``TrainConfig.batch_size`` is set: examples in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from .config import TrainConfig

# What counts as examples: a map-style Dataset, a tensor (one example per row), or a tuple of
# tensors sharing their first dimension, as in Keras's fit(x, y, batch_size=...).
EXAMPLES_HINT = "a torch Dataset, a tensor, or a tuple of tensors (x, y) with one row per example"
# The order's generator gets a stream of its own: seeded like the global generator, it would
# hand the shuffle the same bits that draw the first dropout masks.
_ORDER_SEED_OFFSET = 0x9E3779B97F4A7C15 % 2**63


class ExampleBatches:
    """Mini-batches of ``batch_size`` examples, reshuffled each epoch from ``generator``.

    Tensors are sliced with one index per batch (fast); a Dataset's examples are read one by
    one and stacked with torch's ``default_collate``. The last batch may be smaller.

    Args:
        examples: a map-style Dataset, a tensor, or a tuple of tensors of equal length.
        batch_size: examples per batch.
        shuffle: draw a new order every epoch (training) or keep the given order.
        generator: the generator of the order; checkpoints save its state (resume is exact).

    >>> x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    >>> [b[1].tolist() for b in ExampleBatches((x, y), 4, shuffle=False)]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """

    def __init__(
        self,
        examples: Any,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
    ) -> None:
        self.examples, self.batch_size, self.shuffle = examples, batch_size, shuffle
        self.generator = generator
        self.count = _count(examples)

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self.shuffle:
            order = torch.randperm(self.count, generator=self.generator)
        else:
            order = torch.arange(self.count)
        for index in order.split(self.batch_size):
            yield self._take(index)

    def _take(self, index: torch.Tensor) -> Any:
        data = self.examples
        if isinstance(data, torch.Tensor):
            return data[index]
        if isinstance(data, tuple):
            return tuple(t[index] for t in data)
        return default_collate([data[i] for i in index.tolist()])


def prepare_data(
    train_data: Any, val_data: Any, config: TrainConfig, default_validation: bool
) -> tuple[Any, Any]:
    """The data as the loop reads it: unchanged without ``batch_size``; with it, the
    examples wrapped in :class:`ExampleBatches` (``val_data`` only for the default
    validation loss: a task's ``evaluate`` gets it as given).

    Raises:
        TypeError: ``batch_size`` is set but the data is batched already.
    """
    size = config.batch_size
    if size is None:
        return train_data, val_data
    check_examples(train_data, "train_data", size)
    order = torch.Generator().manual_seed((config.seed + _ORDER_SEED_OFFSET) % 2**63)
    train = ExampleBatches(train_data, size, shuffle=True, generator=order)
    if val_data is not None and default_validation:
        check_examples(val_data, "val_data", size)
        val_data = ExampleBatches(val_data, size, shuffle=False)
    return train, val_data


def is_examples(data: Any) -> bool:
    """True if ``data`` is one of the forms the loop batches (see :data:`EXAMPLES_HINT`)."""
    if isinstance(data, torch.Tensor):
        return True
    if isinstance(data, tuple) and data and all(isinstance(t, torch.Tensor) for t in data):
        return True
    return isinstance(data, Dataset) and not isinstance(data, IterableDataset)


def check_examples(data: Any, name: str, batch_size: int) -> None:
    """Raise TypeError, naming the fix, unless ``data`` is examples the loop can batch."""
    if is_examples(data):
        return
    if isinstance(data, DataLoader):
        got = "a DataLoader, which batches already"
    elif isinstance(data, IterableDataset):
        got = "an IterableDataset, which cannot be shuffled by index"
    elif callable(data):
        got = "a function epoch -> batches"
    elif isinstance(data, list):
        got = "a list, which the loop reads as batches"
    else:
        got = type(data).__name__
    raise TypeError(
        f"TrainConfig.batch_size={batch_size} makes the loop batch {name} itself, so it must be "
        f"{EXAMPLES_HINT}; got {got}. Pass examples, or leave batch_size None when {name} "
        "yields batches"
    )


def _count(examples: Any) -> int:
    if isinstance(examples, tuple):
        sizes = {int(t.shape[0]) if t.dim() else -1 for t in examples}
        if len(sizes) != 1 or -1 in sizes:
            raise ValueError(
                f"the tensors of the examples tuple must share their first dimension (one "
                f"row per example), got shapes {[tuple(t.shape) for t in examples]}"
            )
        count = sizes.pop()
    elif isinstance(examples, torch.Tensor):
        if examples.dim() == 0:
            raise ValueError("a 0-d tensor holds no examples; give one row per example")
        count = int(examples.shape[0])
    else:
        count = len(examples)
    if count == 0:
        raise ValueError("the examples are empty: give at least one")
    return count
