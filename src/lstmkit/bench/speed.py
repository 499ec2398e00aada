"""Speed benchmark: torch.nn.LSTM against lstmkit's eager loop, "auto" and fused engines.

One process, a warm-up, then the columns timed in turn (round-robin, so that a noisy
neighbour slows every column alike) and their medians compared. Each configuration is
timed for inference (eval mode, no grad) and for a training step (train mode, forward +
backward of the mean output). Rows: the plain LSTM, each variant, and the GRU (against
torch.nn.GRU). The torch column of a variant row is the *plain* torch.nn.LSTM of the same
size: the variants' target is to cost at most 1.5x of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

import lstmkit
from lstmkit.engines.select import engine_for


@dataclass(frozen=True)
class Shape:
    """One configuration: batch, steps, input and hidden sizes, layers, directions."""

    B: int
    T: int
    I: int  # noqa: E741 - the issue's column name
    H: int
    layers: int = 1
    bidirectional: bool = False

    def __str__(self) -> str:
        text = f"{self.B},{self.T},{self.I},{self.H}"
        if self.layers > 1 or self.bidirectional:
            text += f" L{self.layers}" + (" bi" if self.bidirectional else "")
        return text


SHAPES = (
    Shape(1, 100, 32, 128),
    Shape(32, 100, 32, 128),
    Shape(64, 200, 64, 256),
    Shape(128, 50, 128, 512),
    Shape(16, 500, 16, 64),
    Shape(32, 100, 64, 256, layers=2, bidirectional=True),
)
ROWS = {  # row name -> lstmkit options (None: the GRU)
    "plain": {},
    "layer_norm": {"layer_norm": True},
    "peephole": {"peephole": True},
    "cifg": {"cifg": True},
    "zoneout": {"zoneout": 0.1},
    "recurrent_dropout": {"recurrent_dropout": 0.25},
    "weight_drop": {"weight_drop": 0.25},
    "gru": None,
}
COLUMNS = ("torch", "eager", "auto", "fused")


@dataclass
class Result:
    shape: str
    row: str
    mode: str  # "inference" or "train"
    ms: dict[str, float]  # column -> median milliseconds
    auto_engine: str
    ms_min: dict[str, float] | None = None  # column -> fastest run (robust to a busy machine)

    def ratio(self, faster: str, slower: str = "torch", stat: str = "median") -> float:
        """How many times faster `faster` is than `slower` (>1: faster)."""
        ms = self.times(stat)
        return ms[slower] / ms[faster]

    def times(self, stat: str = "median") -> dict[str, float]:
        """The milliseconds of each column by `stat`: "median" or "min"."""
        return self.ms_min if stat == "min" and self.ms_min else self.ms


def build(shape: Shape, row: str) -> dict[str, nn.Module]:
    """The four modules of one row, sharing the torch module's weights."""
    torch.manual_seed(0)
    options = ROWS[row]
    size = dict(num_layers=shape.layers, bidirectional=shape.bidirectional)
    reference = (nn.GRU if options is None else nn.LSTM)(shape.I, shape.H, **size)
    cls = lstmkit.GRU if options is None else lstmkit.LSTM
    modules: dict[str, nn.Module] = {"torch": reference}
    for column, engine in (("eager", "autograd"), ("auto", "auto"), ("fused", "fused")):
        modules[column] = cls(shape.I, shape.H, **size, **(options or {}), engine=engine)
    with contextlib.suppress(RuntimeError):  # torch's weights unless shapes differ (CIFG)
        modules["eager"].load_state_dict(reference.state_dict(), strict=False)
    for column in ("auto", "fused"):
        modules[column].load_state_dict(modules["eager"].state_dict())
    return modules


def step(module: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """A closure running one inference call or one training step of `module`."""
    if mode == "inference":
        module.eval()

        def run() -> None:
            with torch.no_grad():
                module(x)

        return run
    module.train()
    params = list(module.parameters())

    def run() -> None:
        for p in params:
            p.grad = None
        out, _ = module(x)
        out.mean().backward()

    return run


def time_columns(
    runs: dict[str, Callable[[], None]], budget_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Median and minimum milliseconds per call of each closure, timed round-robin.

    In each round a column first runs once untimed (unless one call takes over 50 ms), then
    a block of calls (~5 ms) is timed, and the order of the columns rotates from round to
    round: a column that always followed the slow eager loop paid for waking the thread
    pool and refilling caches (0.05-0.4 ms at B=1), which its steady state never does.
    """
    first = {}
    for name, run in runs.items():
        run()  # warm-up: kernel build or load, allocator, oneDNN primitive caches
        start = time.perf_counter()
        run()
        first[name] = time.perf_counter() - start
    block = {name: max(1, int(5e-3 / max(t, 1e-9))) for name, t in first.items()}
    warm = {name: t < 0.05 for name, t in first.items()}
    per_round = sum((block[name] + warm[name]) * t for name, t in first.items())
    reps = max(3, min(25, int(budget_s / max(per_round, 1e-9))))
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for rep in range(reps):  # the order rotates, so that no column always follows the same one
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            run = runs[name]
            if warm[name]:
                run()
            start = time.perf_counter()
            for _ in range(block[name]):
                run()
            times[name].append((time.perf_counter() - start) / block[name])
    medians = {name: 1e3 * statistics.median(ts) for name, ts in times.items()}
    return medians, {name: 1e3 * min(ts) for name, ts in times.items()}


def run_benchmark(
    shapes: tuple[Shape, ...] = SHAPES,
    rows: tuple[str, ...] = tuple(ROWS),
    modes: tuple[str, ...] = ("inference", "train"),
    budget_s: float = 2.0,
    echo: Callable[[str], None] | None = print,
    stat: str = "median",
) -> list[Result]:
    """Time every (shape, row, mode); print each line as it is measured when `echo` is given.

    Args:
        shapes: configurations; rows: names from ROWS; modes: "inference" and/or "train".
        budget_s: about how long to spend timing one (shape, row, mode), warm-up excluded.
        echo: where progress lines go (None: quiet); stat: what lines show, "median" or
            "min" (the fastest run: on a busy machine, the closest to the machine's speed).
    Returns:
        One Result per (shape, row, mode).
    """
    unknown = set(rows) - set(ROWS)
    if unknown:
        raise ValueError(f"unknown benchmark rows {sorted(unknown)}; choose from {list(ROWS)}")
    results = []
    for shape in shapes:
        torch.manual_seed(1)
        x = torch.randn(shape.T, shape.B, shape.I)
        for row in rows:
            modules = build(shape, row)
            for mode in modes:
                runs = {name: step(m, x, mode) for name, m in modules.items()}
                ms, ms_min = time_columns(runs, budget_s)
                with torch.set_grad_enabled(mode == "train"):
                    chosen = engine_for(modules["auto"].spec(), x, False).name
                result = Result(str(shape), row, mode, ms, chosen, ms_min)
                results.append(result)
                if echo:
                    echo(format_row(result, stat))
    return results


def format_row(r: Result, stat: str = "median") -> str:
    """One table line: milliseconds per column, then the ratios the targets are stated in."""
    ms = r.times(stat)
    times = " ".join(f"{ms[c]:9.2f}" for c in COLUMNS)
    fused, auto = r.ratio("fused", stat=stat), r.ratio("auto", stat=stat)
    eager = r.ratio("fused", "eager", stat)
    return (
        f"{r.shape:<18} {r.row:<17} {r.mode:<9} {times}   {fused:5.2f}x {auto:5.2f}x "
        f"{eager:5.1f}x  {r.auto_engine}"
    )


HEADER = (
    f"{'B,T,I,H':<18} {'row':<17} {'mode':<9} {'torch':>9} {'eager':>9} {'auto':>9} "
    f"{'fused':>9}   torch/fused torch/auto eager/fused auto=\n"
    "(milliseconds; ratios > 1 mean lstmkit is faster; the torch column of a variant row is "
    "the plain torch LSTM; gru rows use torch.nn.GRU)"
)


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def write_json(results: list[Result], path: str) -> None:
    """Save the results with the machine description."""
    payload = {"machine": machine(), "results": [asdict(r) for r in results]}
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)
