"""bfloat16 against float32, torch and lstmkit side by side, one process, medians.

Usage: python benchmarks/bf16.py [--shapes 0 1 2] [--threads 2] [--repeats 5]

Columns (each the same LSTM, one layer, weights copied from one float32 module):
`torch fp32` = torch.nn.LSTM; `torch autocast` = the same under torch.autocast("cpu",
dtype=torch.bfloat16) (the issue's comparison; it fails where oneDNN has no bfloat16 LSTM
primitive, and the error is printed); `torch bf16` = torch.nn.LSTM(...).to(torch.bfloat16);
`lstmkit fp32` = lstmkit.LSTM (engine auto); `lstmkit bf16` = lstmkit.LSTM(...).to(bfloat16);
`lstmkit autocast` = the float32 lstmkit.LSTM under autocast. Modes: `train` = forward and
backward of out.float().mean(), `inference` = eval mode under torch.no_grad(). Each column
is warmed up, then the columns are timed in turns, `--repeats` rounds (a column whose
warm-up took over 2 s, torch's generic bfloat16 kernel here, is timed once). The table and the
machine are in benchmarks/README.md; `lstmkit.engines.select.low_precision_plan()` (printed)
says which path lstmkit's bfloat16 takes on this CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

import torch

import lstmkit
from lstmkit.engines.select import low_precision_plan

SHAPES = [(32, 100, 32, 128), (64, 200, 64, 256), (128, 50, 128, 512)]  # B, T, I, H
BF16 = torch.bfloat16
SLOW_S = 2.0


def columns(size_in: int, hidden: int) -> dict:
    """Name -> (module, input dtype, autocast on)."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(size_in, hidden)
    ours = lstmkit.LSTM(size_in, hidden)
    ours.load_state_dict(reference.state_dict())
    torch_bf16 = torch.nn.LSTM(size_in, hidden).to(BF16)
    torch_bf16.load_state_dict(reference.state_dict())
    ours_bf16 = lstmkit.LSTM(size_in, hidden).to(BF16)
    ours_bf16.load_state_dict(reference.state_dict())
    return {
        "torch fp32": (reference, torch.float32, False),
        "torch autocast": (reference, torch.float32, True),
        "torch bf16": (torch_bf16, BF16, False),
        "lstmkit fp32": (ours, torch.float32, False),
        "lstmkit bf16": (ours_bf16, BF16, False),
        "lstmkit autocast": (ours, torch.float32, True),
    }


def call(column: tuple, x: torch.Tensor, mode: str) -> None:
    layer, dtype, autocast = column
    layer.train(mode == "train")
    scope = torch.autocast("cpu", dtype=BF16) if autocast else contextlib.nullcontext()
    grad = torch.no_grad() if mode == "inference" else contextlib.nullcontext()
    with scope, grad:
        out = layer(x.to(dtype))[0]
    if mode == "train":
        out.float().mean().backward()
        layer.zero_grad(set_to_none=True)


def row(shape: tuple, mode: str, repeats: int) -> dict[str, float | str]:
    """Median seconds per column (or the error it raised)."""
    batch, steps, size_in, hidden = shape
    cols = columns(size_in, hidden)
    x = torch.randn(steps, batch, size_in)
    result: dict[str, float | str] = {}
    times: dict[str, list[float]] = {}
    slow = set()  # columns whose warm-up took over SLOW_S: timed once, to bound the run
    for name, column in cols.items():
        try:
            start = time.perf_counter()
            call(column, x, mode)
            times[name] = []
            if time.perf_counter() - start > SLOW_S:
                slow.add(name)
        except RuntimeError as err:
            result[name] = str(err).splitlines()[0][:70]
    for r in range(repeats):
        names = [n for n in times if r == 0 or n not in slow]
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
            start = time.perf_counter()
            call(cols[name], x, mode)
            times[name].append(time.perf_counter() - start)
    result |= {name: statistics.median(t) for name, t in times.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, nargs="+", default=list(range(len(SHAPES))))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
          f"threads {args.threads}, load average {os.getloadavg()}")  # fmt: skip
    print(low_precision_plan(BF16))
    names = list(columns(1, 1))
    print(f"{'B,T,I,H':16} {'mode':9} " + " ".join(f"{n:>16}" for n in names)
          + "   torch fp32/lstmkit bf16  lstmkit fp32/bf16")  # fmt: skip
    failures = {}
    for index in args.shapes:
        for mode in ("train", "inference"):
            result = row(SHAPES[index], mode, args.repeats)
            cells = []
            for n in names:
                value = result[n]
                if isinstance(value, str):
                    failures[n] = value
                    cells.append(f"{'failed':>16}")
                else:
                    cells.append(f"{value * 1e3:16.2f}")
            ratios = f"{result['torch fp32'] / result['lstmkit bf16']:24.2f}x"
            ratios += f" {result['lstmkit fp32'] / result['lstmkit bf16']:17.2f}x"
            label = ",".join(map(str, SHAPES[index]))
            print(f"{label:16} {mode:9} " + " ".join(cells) + ratios, flush=True)
    print("(milliseconds, medians; ratios > 1: lstmkit bf16 faster)")
    for name, error in failures.items():
        print(f"{name} failed: {error}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
