"""Peak memory and time of one LSTM training step against the sequence length T.

Usage: python benchmarks/memory.py [--T 1000 10000 100000] [--impls torch normal bounded]
       [--threads 2] [--k 0] [--steps 1] [--loss mean]

Each (T, implementation) point runs in a fresh subprocess, so that its peak resident set
(getrusage ru_maxrss: the process's peak RSS, torch and the interpreter included; the CPU has
no allocator statistics) belongs to that point alone. A point builds the layer (B=8, I=32,
H=128, one layer, float32), runs one warm-up step at T=64 (kernels loaded, threads up), then
times `--steps` training steps (forward, backward, parameter gradients) at T, with the
minor page faults of each. The loss: `mean` = out.mean() (as benchmarks/speed.py), `square`
= out.pow(2).mean() (its backward adds temporaries of out's size). Either way the input, the
output and the output's gradient (mean's backward materialises it) are the caller's: the
`floor` column, T * B * (I + 2H) floats, which no implementation can go below; `own` = peak
- base - floor is what the implementation itself added.
Implementations: `torch` = torch.nn.LSTM, `normal` = lstmkit.LSTM (engine auto), `bounded`
= lstmkit.LSTM(checkpoint_every=k), k = round(sqrt(T)) unless --k. The table and the
machine are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

BATCH, INPUT, HIDDEN = 8, 32, 128


def child(impl: str, steps: int, k: int, repeats: int, loss: str) -> dict:
    """One point, in this process: the figures as a dict."""
    import torch

    import lstmkit

    torch.manual_seed(0)
    if impl == "torch":
        layer = torch.nn.LSTM(INPUT, HIDDEN)
    else:
        layer = lstmkit.LSTM(INPUT, HIDDEN, checkpoint_every=k if impl == "bounded" else 0)

    def step(length: int) -> tuple[float, float, int]:
        x = torch.randn(length, BATCH, INPUT)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        out, _ = layer(x)
        middle = time.perf_counter()
        (out.pow(2) if loss == "square" else out).mean().backward()
        end = time.perf_counter()
        layer.zero_grad(set_to_none=True)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        return middle - start, end - middle, faults

    step(64)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    runs = [step(steps) for _ in range(repeats)]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return dict(
        impl=impl, T=steps, k=k if impl == "bounded" else 0, loss=loss, base_mib=base / 1024,
        peak_mib=peak / 1024, forward_s=[r[0] for r in runs], backward_s=[r[1] for r in runs],
        faults=[r[2] for r in runs],
    )  # fmt: skip


def point(impl: str, steps: int, k: int, repeats: int, threads: int, loss: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    command = [sys.executable, __file__, "--child", impl, str(steps), str(k), str(repeats), loss]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        return dict(impl=impl, T=steps, failed=done.stderr.strip().splitlines()[-1:])
    return json.loads(done.stdout.strip().splitlines()[-1])


HEADER = (
    f"{'T':>7} {'impl':8} {'k':>4} {'step s':>8} {'fwd s':>7} {'bwd s':>7} {'peak MiB':>9} "
    f"{'base MiB':>9} {'floor':>6} {'own':>6} {'faults':>9} {'vs normal: time':>16} {'memory':>7}"
)


def report(r: dict, normal: dict | None) -> None:
    """One point's line (and one per further step), with its ratios to the normal path."""
    if "failed" in r:
        print(f"{r['T']:>7} {r['impl']:8} failed: {r['failed']}", flush=True)
        return
    step = r["forward_s"][0] + r["backward_s"][0]
    ratio = ""
    if normal is not None and "failed" not in normal:
        n_step = normal["forward_s"][0] + normal["backward_s"][0]
        ratio = f"{step / n_step:15.2f}x {r['peak_mib'] / normal['peak_mib']:6.3f}x"
    floor = r["T"] * BATCH * (INPUT + 2 * HIDDEN) * 4 / 2**20
    own = r["peak_mib"] - r["base_mib"] - floor
    print(f"{r['T']:>7} {r['impl']:8} {r['k']:>4} {step:8.3f} {r['forward_s'][0]:7.3f} "
          f"{r['backward_s'][0]:7.3f} {r['peak_mib']:9.0f} {r['base_mib']:9.0f} {floor:6.0f} "
          f"{own:6.0f} {r['faults'][0]:>9} {ratio}")  # fmt: skip
    for f, b, faults in list(zip(r["forward_s"], r["backward_s"], r["faults"]))[1:]:
        print(f"{'':>7} {'  again':8} {'':>4} {f + b:8.3f} {f:7.3f} {b:7.3f} "
              f"{'':>9} {'':>9} {'':>6} {'':>6} {faults:>9}")  # fmt: skip
    sys.stdout.flush()


def linearity(rows: list[dict]) -> None:
    """Time per step per time step, relative to the shortest T: 1.00 is linear."""
    print("time per step / T, relative to the shortest T (1.00 = linear):")
    for impl in dict.fromkeys(r["impl"] for r in rows):
        mine = sorted((r for r in rows if r["impl"] == impl and "failed" not in r),
                      key=lambda r: r["T"])  # fmt: skip
        if not mine:
            continue
        first = (mine[0]["forward_s"][0] + mine[0]["backward_s"][0]) / mine[0]["T"]
        cells = [f"T={r['T']}: {(r['forward_s'][0] + r['backward_s'][0]) / r['T'] / first:.2f}"
                 for r in mine]  # fmt: skip
        print(f"  {impl:8} " + "  ".join(cells))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        impl, (steps, k, repeats), loss = sys.argv[2], map(int, sys.argv[3:6]), sys.argv[6]
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        print(json.dumps(child(impl, steps, k or round(steps**0.5), repeats, loss)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--impls", nargs="+", default=["torch", "normal", "bounded"],
                        choices=["torch", "normal", "bounded"])  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--k", type=int, default=0, help="segment length (0: sqrt(T))")
    parser.add_argument("--steps", type=int, default=1, help="timed steps per point")
    parser.add_argument("--loss", default="mean", choices=["mean", "square"])
    args = parser.parse_args()
    print(f"B={BATCH} I={INPUT} H={HIDDEN}, 1 layer, float32, threads={args.threads}, "
          f"loss {args.loss}, "
          f"load average {os.getloadavg()}")  # fmt: skip
    print(HEADER, flush=True)
    rows = []
    for steps in args.T:
        normal = None
        for impl in sorted(args.impls, key=lambda i: i != "normal"):  # normal first: ratios
            rows.append(point(impl, steps, args.k, args.steps, args.threads, args.loss))
            normal = rows[-1] if impl == "normal" else normal
            report(rows[-1], normal)
    linearity(rows)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
