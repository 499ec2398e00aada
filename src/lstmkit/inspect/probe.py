"""What `inspect` needs from a saved run of any task: a model, a batch to run it on, and
(for forecasts and classifications) a differentiable output to attribute.

Each task gets a small ``probe_<kind>`` function (`probes_series`, `probes_text`) that loads
the run through the task's own ``load`` and builds the batch from the run's validation data
(or a file the user gives), using the task's readers, so the inputs are exactly those the
model saw in training.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lstmkit.io import INDEX
from lstmkit.tasks.options import OPTIONS_FILE, read_mapping

__all__ = ["Probe", "Target", "cli_reader", "load_probe", "replaced_output", "run_options"]

# kind -> (module with its probe, function)
PROBES = {
    "forecast": ("lstmkit.inspect.probes_series", "probe_forecast"),
    "forecast-panel": ("lstmkit.inspect.probes_series", "probe_forecast_panel"),
    "classify": ("lstmkit.inspect.probes_series", "probe_classify"),
    "reproduce": ("lstmkit.inspect.probes_series", "probe_reproduce"),
    "generate": ("lstmkit.inspect.probes_text", "probe_generate"),
    "tag": ("lstmkit.inspect.probes_text", "probe_tag"),
    "translate": ("lstmkit.inspect.probes_text", "probe_translate"),
    "recommend": ("lstmkit.inspect.probes_text", "probe_recommend"),
}


@dataclass
class Target:
    """A differentiable output for attributions: ``f(inputs)`` gives one number per sequence."""

    inputs: Tensor  # (B, T, F): numeric features, or the token embeddings
    f: Callable[[Tensor], Tensor]
    what: str  # the output attributed, in words
    feature_names: list[str]
    numeric: bool  # the inputs are the data itself (drawn above the attributions)
    baseline: str  # what the zero baseline means for these inputs


@dataclass
class Probe:
    """A loaded run, ready to be run under `record_gates`."""

    kind: str
    model: nn.Module  # holds the recurrent layers that are recorded
    run: Callable[[], Any]  # one forward pass over the batch
    lengths: np.ndarray  # (B,) valid steps of each sequence of the batch
    source: str  # where the batch came from, in words
    tokens: list[list[str]] | None = None  # per sequence, the token shown at each step
    char_level: bool = False  # tokens are characters (a passage to colour)
    target: Target | None = None
    # module-name prefix -> (its batch's lengths, or None for the probe's; whether the module
    # ran over each sequence reversed within its length, as PaddedBiLSTM's backward layers do)
    layouts: dict[str, tuple[np.ndarray | None, bool]] = field(default_factory=dict)

    def over_batch(self, name: str, batch: int) -> bool:
        """Whether module ``name``, which recorded ``batch`` sequences, ran over this batch
        itself (not over, say, a tagger's distinct words, which `layouts` gives lengths)."""
        own = any(name.startswith(p) and lengths is not None
                  for p, (lengths, _) in self.layouts.items())  # fmt: skip
        return batch == len(self.lengths) and not own


def run_options(run: Path) -> argparse.Namespace | None:
    """The options the run's training command recorded (`OPTIONS_FILE`), if it has them."""
    path = run / OPTIONS_FILE
    return argparse.Namespace(**read_mapping(path, "the run's options")) if path.is_file() else None


def cli_reader(module: str, *names: str) -> Callable[..., Any]:
    """The task CLI's own reader of its data from parsed options (the first of ``names`` the
    module has: the public name, then an older private one), so inspect reads the data
    exactly as the training command did."""
    cli = importlib.import_module(module)
    for name in names:
        if hasattr(cli, name):
            return getattr(cli, name)
    raise AttributeError(f"{module} has none of {names}")


def need_input(run: Path, kind: str, what: str) -> ValueError:
    """The error for a run that does not say where its data came from."""
    return ValueError(
        f"{run} does not record its training data ({OPTIONS_FILE} is missing: it was saved "
        f"from Python, not by `lstmkit {kind}`); pass --input FILE with {what}"
    )


def load_probe(run: str | Path, input_file: str | Path | None = None, *, limit: int = 32) -> Probe:
    """Load the saved run ``run`` of any task and prepare a batch of at most ``limit``
    sequences: from ``input_file`` if given, else from the run's validation data."""
    run = Path(run)
    if not (run / INDEX).is_file():
        raise FileNotFoundError(
            f"{run} holds no saved run (no {INDEX}); pass the directory a task's --run/--out wrote"
        )
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"--limit must be a positive integer, got {limit!r}")
    if input_file is not None and not Path(input_file).is_file():
        raise FileNotFoundError(f"--input {input_file} is not a file")
    kind = json.loads((run / INDEX).read_text(encoding="utf-8")).get("kind")
    if kind not in PROBES:
        raise ValueError(f"{run} is a {kind!r} run; inspect knows {', '.join(sorted(PROBES))}")
    module, name = PROBES[kind]
    probe = getattr(importlib.import_module(module), name)(run, input_file, limit)
    probe.model.eval()
    return probe


@contextmanager
def replaced_output(module: nn.Module, value: list[Tensor | None]) -> Iterator[None]:
    """While active, ``module`` returns ``value[0]`` instead of its own output (when set):
    attributions feed chosen embeddings through a model that takes token ids."""
    handle = module.register_forward_hook(lambda m, i, out: out if value[0] is None else value[0])
    try:
        yield
    finally:
        handle.remove()


def embedding_target(
    embedding: nn.Embedding, ids: Tensor, score: Callable[[], Tensor], what: str
) -> Target:
    """A `Target` over the token embeddings of ``ids`` (B, T): ``score()`` runs the model on
    ``ids`` (one number per sequence) while the embedding layer hands out the given vectors."""
    slot: list[Tensor | None] = [None]

    def f(vectors: Tensor) -> Tensor:
        slot[0] = vectors
        try:
            with replaced_output(embedding, slot):
                return score()
        finally:
            slot[0] = None

    with torch.no_grad():
        inputs = embedding(ids).detach()
    return Target(inputs, f, what, ["embedding (summed)"], False, "all-zero embeddings")


def pad(seqs: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Zero-padded batch (B, T, ...) and lengths (B,) of a list of sequences."""
    lengths = torch.tensor([len(s) for s in seqs])
    return nn.utils.rnn.pad_sequence(seqs, batch_first=True), lengths
