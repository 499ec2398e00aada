"""Latency of a saved run: lstmkit eager (engine "auto") vs onnxruntime float32 vs int8.

    python benchmarks/export_latency.py --run forecast=runs/forecast-airline \
        --run classify=runs/classify-japanese-vowels --threads 2

For each run: export (checked against lstmkit), quantize, then time the three side by side
in this one process on the same random inputs (batch 1 and 32, mixed lengths), in
interleaved rounds so that a change in the machine's load hits all three alike. Prints
the median milliseconds per call and the ratios eager / onnxruntime; --json writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lstmkit.export import export_task, quantized
from lstmkit.export.check import session
from lstmkit.export.quantize import onnx_runner
from lstmkit.export.tasks import task_class
from lstmkit.io import load_artifact


def steps_of(task) -> int:
    """Time steps of one input: the forecaster's lookback, else 29 (Japanese Vowels' longest)."""
    return int(task.prep.lookback) if task.kind == "forecast" else 29


def time_round(runners: dict, args, seconds: float) -> dict[str, list[float]]:
    """One interleaved round: each runner called for about `seconds`, per-call times in ms."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for name, run in runners.items():
        run(args)  # warm
        end = time.perf_counter() + seconds
        while time.perf_counter() < end or len(times[name]) < 3:
            start = time.perf_counter()
            run(args)
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def bench_run(path: str, threads: int, rounds: int, seconds: float) -> list[dict]:
    """Rows (one per batch size) for the saved run at `path`."""
    kind = load_artifact(path).kind
    task = task_class(kind).load(path)
    exported = export_task(task)
    names = exported.input_names
    net = exported.spec.net.eval()
    runners = {
        "lstmkit eager": lambda a: net(*a),
        "onnxruntime": onnx_runner(session(exported.model, threads), names),
        "onnxruntime int8": onnx_runner(session(quantized(exported.model), threads), names),
    }
    rows = []
    gen = torch.Generator().manual_seed(0)
    for batch in (1, 32):
        args = exported.spec.sample(batch, steps_of(task), gen)
        times: dict[str, list[float]] = {name: [] for name in runners}
        with torch.no_grad():
            for _ in range(rounds):
                for name, ms in time_round(runners, args, seconds).items():
                    times[name] += ms
        median = {name: float(np.median(ms)) for name, ms in times.items()}
        rows.append({"task": kind, "batch": batch, "steps": steps_of(task), "ms": median,
                     "error": exported.max_abs_error})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="per runner and round")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"threads {args.threads}, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    rows = []
    for item in args.run:
        _, path = item.split("=", 1)
        rows += bench_run(path, args.threads, args.rounds, args.seconds)
    print("| task | batch | steps | lstmkit eager ms | onnxruntime ms | int8 ms | eager/ort | "
          "eager/int8 |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        ms = r["ms"]
        eager, ort, int8 = ms["lstmkit eager"], ms["onnxruntime"], ms["onnxruntime int8"]
        print(f"| {r['task']} | {r['batch']} | {r['steps']} | {eager:.3f} | {ort:.3f} | "
              f"{int8:.3f} | {eager / ort:.1f}x | {eager / int8:.1f}x |")  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
