"""bfloat16 against float32, torch and lstmkit side by side, one process, medians.

Usage: python benchmarks/bf16.py [--shapes 0 1 2] [--threads 2] [--repeats 5] [--layer lstm]

`--layer` picks the layer: lstm (the issue's table), proj (LSTM with proj_size H/2), gru,
rnn, and lstmkit's own variants peephole and layer_norm (no torch columns: torch has no
such layer). Columns (each the same layer, one of it, weights copied from one float32
module):
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


# --layer: (torch class or None, lstmkit class, options given the hidden size)
LAYERS = {
    "lstm": (torch.nn.LSTM, lstmkit.LSTM, lambda h: {}),
    "proj": (torch.nn.LSTM, lstmkit.LSTM, lambda h: {"proj_size": h // 2}),
    "gru": (torch.nn.GRU, lstmkit.GRU, lambda h: {}),
    "rnn": (torch.nn.RNN, lstmkit.RNN, lambda h: {}),
    "peephole": (None, lstmkit.LSTM, lambda h: {"peephole": True}),
    "layer_norm": (None, lstmkit.LSTM, lambda h: {"layer_norm": True}),
}


def columns(size_in: int, hidden: int, layer: str = "lstm") -> dict:
    """Name -> (module, input dtype, autocast on); no torch columns for lstmkit's variants."""
    torch_class, ours_class, options = LAYERS[layer]
    kwargs = options(hidden)
    torch.manual_seed(0)
    ours = ours_class(size_in, hidden, **kwargs)
    ours_bf16 = ours_class(size_in, hidden, **kwargs).to(BF16)
    ours_bf16.load_state_dict(ours.state_dict())
    result = {}
    if torch_class is not None:
        reference = torch_class(size_in, hidden, **kwargs)
        reference.load_state_dict(ours.state_dict())
        torch_bf16 = torch_class(size_in, hidden, **kwargs).to(BF16)
        torch_bf16.load_state_dict(ours.state_dict())
        result |= {
            "torch fp32": (reference, torch.float32, False),
            "torch autocast": (reference, torch.float32, True),
            "torch bf16": (torch_bf16, BF16, False),
        }
    return result | {
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


def row(shape: tuple, mode: str, repeats: int, layer: str) -> dict[str, float | str]:
    """Median seconds per column (or the error it raised)."""
    batch, steps, size_in, hidden = shape
    cols = columns(size_in, hidden, layer)
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
    parser.add_argument("--layer", choices=list(LAYERS), default="lstm")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    capability = torch.backends.cpu.get_cpu_capability()
    print(f"torch {torch.__version__}, capability {capability}, threads {args.threads}, "
          f"load average {os.getloadavg()}, layer {args.layer}")  # fmt: skip
    print(low_precision_plan(BF16))
    names = list(columns(1, 2, args.layer))
    print(f"{'B,T,I,H':16} {'mode':9} " + " ".join(f"{n:>16}" for n in names)
          + "   torch fp32/lstmkit bf16  lstmkit fp32/bf16")  # fmt: skip
    failures = {}
    for index in args.shapes:
        for mode in ("train", "inference"):
            result = row(SHAPES[index], mode, args.repeats, args.layer)
            cells = []
            for n in names:
                value = result[n]
                if isinstance(value, str):
                    failures[n] = value
                    cells.append(f"{'failed':>16}")
                else:
                    cells.append(f"{value * 1e3:16.2f}")
            label = ",".join(map(str, SHAPES[index]))
            print(f"{label:16} {mode:9} " + " ".join(cells) + _ratios(result), flush=True)
    print("(milliseconds, medians; ratios > 1: lstmkit bf16 faster)")
    for name, error in failures.items():
        print(f"{name} failed: {error}")
    print(f"load average after: {os.getloadavg()}")


def _ratios(result: dict[str, float | str]) -> str:
    def ratio(name: str) -> str:
        value = result.get(name)
        return f"{value / result['lstmkit bf16']:.2f}x" if isinstance(value, float) else "-"

    return f"{ratio('torch fp32'):>25} {ratio('lstmkit fp32'):>18}"


if __name__ == "__main__":
    main()
