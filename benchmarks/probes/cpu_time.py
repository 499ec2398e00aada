"""One-thread speed by process CPU time: torch.nn against lstmkit, on a machine others load.

Run `python benchmarks/probes/cpu_time.py [--shapes 0 1 3] [--rows plain gru] [--budget 1]`.
Wall-clock timings (`lstmkit bench speed`) on two shared cores swing 2-100x while other jobs
run: a two-thread call stalls whenever one of its threads waits for a core. With one
thread, `time.process_time` counts only the time the process ran, so the minimum over calls
stays close to a quiet machine's figure (caches and memory bandwidth are still shared).
The modules, weights and inputs are those of `lstmkit bench speed` (lstmkit.bench.speed);
the columns are torch.nn (LSTM, or GRU on the gru rows), lstmkit `engine="auto"` and
`engine="fused"`. Prints one line per (configuration, row, mode): milliseconds, min of the
calls, and torch/fused, torch/auto (> 1: lstmkit is faster).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import torch

from lstmkit.bench.speed import ROWS, SHAPES, build, step
from lstmkit.engines.select import engine_for

COLUMNS = ("torch", "auto", "fused")


def cpu_min_ms(run: Callable[[], None], budget_s: float) -> float:
    """The fastest call's process CPU time, in ms, over about `budget_s` CPU seconds."""
    run()  # warm-up: kernel build or load, allocator, oneDNN primitive caches
    run()
    best, spent = float("inf"), 0.0
    while spent < budget_s or best == float("inf"):
        start = time.process_time()
        run()
        took = time.process_time() - start
        best, spent = min(best, took), spent + max(took, 1e-6)
    return 1e3 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--budget", type=float, default=1.0, help="CPU seconds per column")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average at start: {os.getloadavg()}, torch threads: 1, min process CPU time")
    print(f"{'B,T,I,H':18} {'row':17} {'mode':9} " + " ".join(f"{c:>8}" for c in COLUMNS))
    for shape in (SHAPES[i] for i in args.shapes):
        torch.manual_seed(1)
        x = torch.randn(shape.T, shape.B, shape.I)
        for row in args.rows:
            modules = {name: m for name, m in build(shape, row).items() if name in COLUMNS}
            for mode in ("inference", "train"):
                ms = {n: cpu_min_ms(step(m, x, mode), args.budget) for n, m in modules.items()}
                with torch.set_grad_enabled(mode == "train"):
                    chosen = engine_for(modules["auto"].spec(), x, False).name
                times = " ".join(f"{ms[c]:8.2f}" for c in COLUMNS)
                ratios = f"{ms['torch'] / ms['fused']:6.2f}x {ms['torch'] / ms['auto']:6.2f}x"
                print(f"{shape!s:18} {row:17} {mode:9} {times} {ratios}  {chosen}", flush=True)


if __name__ == "__main__":
    main()
