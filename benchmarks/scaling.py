"""How the time of one LSTM call grows with the batch B, the hidden size H and the length T.

Usage: python benchmarks/scaling.py [--sweeps B H T] [--modes train inference]
       [--threads 2] [--repeats 3]

Three sweeps around the base point B=16, T=100, I=32, H=128 (one layer, float32), each
varying one size: B in 1..256, H in 32..1024, T in 10..10^4. At each point torch.nn.LSTM
and lstmkit.LSTM (engine auto, same weights) are warmed up and then timed in turns,
`--repeats` times each, medians printed: `train` = forward and backward of out.mean() in
train mode, `inference` = eval mode under torch.no_grad(). Beside the times: torch/lstmkit
(> 1: lstmkit faster) and each one's `growth`, the time relative to the sweep's first point
divided by the work ratio (T and B: linear; H: (I + H) * H, the multiply-adds of a step),
so 1.00 means the cost grows exactly as the work. The table is in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

import lstmkit

BASE = dict(B=16, T=100, H=128)
INPUT = 32
SWEEPS = {
    "B": [1, 4, 16, 64, 256],
    "H": [32, 128, 256, 512, 1024],
    "T": [10, 100, 1000, 10000],
}


def work(size: str, value: int) -> float:
    """What one step's cost should scale with in the swept size."""
    return (INPUT + value) * value if size == "H" else value


def pair(hidden: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """torch.nn.LSTM and lstmkit.LSTM with the same weights."""
    torch.manual_seed(0)
    reference = torch.nn.LSTM(INPUT, hidden)
    ours = lstmkit.LSTM(INPUT, hidden)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def call(layer: torch.nn.Module, x: torch.Tensor, mode: str) -> None:
    if mode == "inference":
        with torch.no_grad():
            layer(x)
        return
    layer(x)[0].mean().backward()
    layer.zero_grad(set_to_none=True)


def time_point(sizes: dict, mode: str, repeats: int) -> tuple[float, float]:
    """Median seconds of (torch, lstmkit) at one point, timed in turns."""
    reference, ours = pair(sizes["H"])
    reference.train(mode == "train")
    ours.train(mode == "train")
    x = torch.randn(sizes["T"], sizes["B"], INPUT)
    times: dict[int, list[float]] = {0: [], 1: []}
    for layer in (reference, ours):
        call(layer, x, mode)  # warm-up: kernels, thread pool, first-touch memory
    for r in range(repeats):
        for i in (r % 2, 1 - r % 2):  # alternate who goes first
            start = time.perf_counter()
            call((reference, ours)[i], x, mode)
            times[i].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def sweep(size: str, mode: str, repeats: int) -> None:
    print(f"\n{mode}, {size} swept (others: {', '.join(f'{k}={v}' for k, v in BASE.items())})")
    print(f"{size:>6} {'torch ms':>10} {'lstmkit ms':>11} {'torch/lstmkit':>14} "
          f"{'growth torch':>13} {'growth lstmkit':>15}")  # fmt: skip
    first = None
    for value in SWEEPS[size]:
        sizes = dict(BASE, **{size: value})
        t_ref, t_ours = time_point(sizes, mode, repeats)
        if first is None:
            first = (t_ref, t_ours, work(size, value))
        scale = work(size, value) / first[2]
        growth = (t_ref / first[0] / scale, t_ours / first[1] / scale)
        print(f"{value:>6} {t_ref * 1e3:10.2f} {t_ours * 1e3:11.2f} {t_ref / t_ours:13.2f}x "
              f"{growth[0]:13.2f} {growth[1]:15.2f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    parser.add_argument("--modes", nargs="+", default=["train", "inference"],
                        choices=["train", "inference"])  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
          f"threads {args.threads}, load average {os.getloadavg()}")  # fmt: skip
    for mode in args.modes:
        for size in args.sweeps:
            sweep(size, mode, args.repeats)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
