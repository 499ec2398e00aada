"""torch's float32 and bfloat16 GEMM rates here: what bounds a bfloat16 LSTM against fp32.

Run `python benchmarks/probes/gemm_bf16.py [--threads 2]`. torch.mm on 1024^3 and on the
issue's bfloat16 shapes' input projection (T*B x I times I x 4H) and recurrent step
(B x H times H x 4H), float32 and bfloat16 (oneDNN's vdpbf16ps path on CPUs with
AVX-512 BF16), best of `--repeats` timed blocks, in GFLOP/s.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

SHAPES = {  # name: (M, K, N)
    "1024^3": (1024, 1024, 1024),
    "step 32x128x512": (32, 128, 512),
    "step 64x256x1024": (64, 256, 1024),
    "step 128x512x2048": (128, 512, 2048),
    "proj 12800x64x1024": (12800, 64, 1024),
}


def rate(m: int, k: int, n: int, dtype: torch.dtype, repeats: int) -> float:
    a, b = torch.randn(m, k).to(dtype), torch.randn(k, n).to(dtype)
    calls = max(1, int(2e8 / (m * k * n)))
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - start) / calls)
    return 2 * m * k * n / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads {args.threads}, load average {os.getloadavg()}")
    print(f"{'shape':<20} {'fp32 GFLOP/s':>13} {'bf16 GFLOP/s':>13} {'bf16/fp32':>10}")
    for name, shape in SHAPES.items():
        fp32, bf16 = (rate(*shape, d, args.repeats) for d in (torch.float32, torch.bfloat16))
        print(f"{name:<20} {fp32:13.1f} {bf16:13.1f} {bf16 / fp32:9.2f}x", flush=True)


if __name__ == "__main__":
    main()
