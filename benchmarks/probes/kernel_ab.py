"""A/B of two trees of the fused engine's C sources in one process: did a kernel edit cost time?

Usage: python benchmarks/probes/kernel_ab.py OLD_KERNEL_DIR [--threads 2] [--rounds 7]
(e.g. `git worktree add /tmp/old HEAD~1` and pass /tmp/old/src/lstmkit/engines/kernels).

Both libraries are built (each under its own source hash) and loaded side by side; each
round times every configuration once with the old build and once with the new, in turns
(the one going first alternating), so that load changes fall on both. Prints medians (ms)
and new/old per configuration.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import lstmkit
from lstmkit.engines import fused_build

CONFIGS = [  # (B, T, I, H, layer class, options)
    (32, 100, 32, 128, lstmkit.LSTM, {}),
    (64, 200, 64, 256, lstmkit.LSTM, {}),
    (1, 100, 32, 128, lstmkit.LSTM, {}),
    (16, 100, 32, 128, lstmkit.LSTM, dict(peephole=True, layer_norm=True)),
    (16, 100, 32, 128, lstmkit.LSTM, dict(proj_size=64, zoneout=0.1)),
    (32, 100, 64, 256, lstmkit.LSTM, dict(num_layers=2, bidirectional=True)),
    (32, 100, 32, 128, lstmkit.GRU, {}),
    (16, 100, 32, 128, lstmkit.GRU, dict(recurrent_dropout=0.2, zoneout=0.1)),
    (32, 100, 32, 256, lstmkit.RNN, {}),
    (16, 500, 16, 64, lstmkit.LSTM, {}),
    (16, 500, 16, 64, lstmkit.LSTM, dict(layer_norm=True)),
    (16, 500, 16, 64, lstmkit.GRU, {}),
]


_CACHES: dict[Path, tuple[dict, dict]] = {}


def _use(kernel_dir: Path) -> None:
    """Point the loader at a source tree, with that tree's own caches of loaded libraries and
    functions (so that, once warm, a timed call looks nothing up)."""
    fused_build.KERNEL_DIR = kernel_dir
    fused_build._loaded, fused_build._functions = _CACHES.setdefault(kernel_dir, ({}, {}))


def _time(layer: torch.nn.Module, x: torch.Tensor, train: bool) -> float:
    start = time.perf_counter()
    if train:
        out, _ = layer(x)
        out.sum().backward()
    else:
        with torch.no_grad():
            layer(x)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the kernels folder of the old tree")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    trees = {"old": args.old, "new": fused_build.KERNEL_DIR}
    cases = []
    for batch, steps, size, hidden, cls, options in CONFIGS:
        torch.manual_seed(0)
        layer = cls(size, hidden, engine="fused", **options).train()
        shape = f"{cls.__name__} {batch},{steps},{size},{hidden} {options or ''}"
        for train in (False, True):
            x = torch.randn(steps, batch, size)
            cases.append((f"{shape} {'train' if train else 'inf'}", layer, x, train))
    times = {(name, tree): [] for name, *_ in cases for tree in trees}
    for round_ in range(args.rounds + 1):  # the first round builds and warms: dropped
        for name, layer, x, train in cases:
            order = list(trees.items())[:: 1 if round_ % 2 else -1]  # who goes first alternates
            for tree, path in order:
                _use(path)
                times[name, tree].append(_time(layer, x, train))
    _use(trees["new"])
    print(f"{'configuration':60s} {'old ms':>9s} {'new ms':>9s} {'new/old':>8s}")
    for name, *_ in cases:
        old, new = (statistics.median(times[name, t][1:]) * 1e3 for t in trees)
        print(f"{name:60s} {old:9.2f} {new:9.2f} {new / old:8.3f}")


if __name__ == "__main__":
    main()
