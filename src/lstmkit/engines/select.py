"""The one place that decides which engine runs a layer.

`"auto"` takes the first engine of `AUTO_ORDER` that supports the configuration and falls
back quietly; naming an engine that cannot run the configuration raises, saying why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from lstmkit.engines import Engine
from lstmkit.engines.autograd import AUTOGRAD
from lstmkit.engines.fused import FUSED
from lstmkit.engines.native import NATIVE

if TYPE_CHECKING:
    from lstmkit.recurrent import RecurrentLayer

ENGINES: dict[str, Engine] = {engine.name: engine for engine in (NATIVE, FUSED, AUTOGRAD)}
AUTO_ORDER: tuple[Engine, ...] = (NATIVE, AUTOGRAD)
ENGINE_NAMES = ("auto", *ENGINES)


def check_engine_name(name: str) -> str:
    if name not in ENGINE_NAMES:
        raise ValueError(f"engine must be one of {ENGINE_NAMES}, got {name!r}")
    return name


def engine_for(layer: RecurrentLayer, x: Tensor, record: bool) -> Engine:
    """The engine that will run `layer` on `x` (with gate recording when `record`)."""
    if layer.engine == "auto":
        return next(e for e in AUTO_ORDER if e.unsupported(layer, x, record) is None)
    engine = ENGINES[layer.engine]
    reason = engine.unsupported(layer, x, record)
    if reason is not None:
        raise ValueError(
            f'engine="{layer.engine}" cannot run this configuration: {reason}; '
            'use engine="auto" to fall back to an engine that can'
        )
    return engine
