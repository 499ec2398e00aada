"""Row split against unit split of the fused LSTM's step loop, and torch, as H grows.

Run `python benchmarks/probes/step_split.py [--H 256 512 1024 2048] [--B 16] [--threads 2]`.
One layer, T=100, I=32 (the scaling table's H sweep). Columns: torch.nn.LSTM, the fused
engine with its threads splitting the batch rows (each thread streams the whole packed
[W_ih, U], 4H x (I + H) floats, every step) and the fused engine splitting the hidden
units (each thread streams its share, one barrier per step), forced through
`engines.fused.layer_config`. Timed in turns, `--repeats` rounds; medians and minima in ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch

import lstmkit
from lstmkit.engines import fused

PLAN = fused.layer_config


def split(units: bool | None):
    """A `_config` that forces the unit split (True), the row split (False) or neither."""

    def config(*args, **kwargs):
        cfg = PLAN(*args, **kwargs)
        if units is None or cfg.mode != "LSTM":
            return cfg
        threads = torch.get_num_threads() if units else min(torch.get_num_threads(), args[2])
        return dataclasses.replace(cfg, units=units, threads=threads)

    return config


def call(layer: torch.nn.Module, x: torch.Tensor, mode: str) -> None:
    if mode == "inference":
        with torch.no_grad():
            layer(x)
        return
    layer(x)[0].mean().backward()
    layer.zero_grad(set_to_none=True)


def point(hidden: int, batch: int, mode: str, repeats: int) -> dict[str, list[float]]:
    torch.manual_seed(0)
    reference = torch.nn.LSTM(32, hidden)
    ours = lstmkit.LSTM(32, hidden, engine="fused")
    ours.load_state_dict(reference.state_dict())
    for layer in (reference, ours):
        layer.train(mode == "train")
    x = torch.randn(100, batch, 32)
    columns = {"torch": (reference, None), "rows": (ours, False), "units": (ours, True)}
    times: dict[str, list[float]] = {name: [] for name in columns}
    for r in range(repeats + 1):
        names = list(columns)[r % 3 :] + list(columns)[: r % 3]  # rotate who goes first
        for name in names:
            layer, units = columns[name]
            fused.layer_config = split(units)
            start = time.perf_counter()
            call(layer, x, mode)
            if r:  # round 0 warms up
                times[name].append(time.perf_counter() - start)
    fused.layer_config = PLAN
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--H", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--B", type=int, nargs="+", default=[16])
    parser.add_argument("--modes", nargs="+", default=["inference", "train"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, load average {os.getloadavg()}")
    print(f"{'mode':<10} {'B':>4} {'H':>5}   median ms: torch   rows  units    min ms: torch"
          "   rows  units   torch/rows torch/units")  # fmt: skip
    for mode in args.modes:
        for batch in args.B:
            for hidden in args.H:
                t = point(hidden, batch, mode, 3 if hidden >= 2048 else args.repeats)
                med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
                low = {k: min(v) * 1e3 for k, v in t.items()}
                ratios = (med["torch"] / med["rows"], med["torch"] / med["units"])
                print(f"{mode:<10} {batch:>4} {hidden:>5}   "
                      + "".join(f"{med[k]:7.1f}" for k in t) + "          "
                      + "".join(f"{low[k]:7.1f}" for k in t)
                      + f"   {ratios[0]:9.2f}x {ratios[1]:9.2f}x", flush=True)  # fmt: skip
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
