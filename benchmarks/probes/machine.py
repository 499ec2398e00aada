"""Probes behind the machine figures in benchmarks/README.md: FMA peak, GEMM rates, call cost.

Run `python benchmarks/probes/machine.py`. Prints, one line each:
- the core's fp32 FMA peak: a C loop of independent multiply-adds, as wide as the
  target's registers (512-bit with AVX-512, 256-bit with AVX2; gcc -march=native);
- torch.mm (MKL) and oneDNN (`mkldnn_linear`) on 1024^3, one and two threads (one
  thread timed by process CPU time, as the FMA loop, two by the wall clock);
- the fused engine's GEMM (kernels/matmul.h) on the weight-gradient shape of
  (32,100,32,128), d(U) = d(a)^T h: 512 x 128 x 3200, A transposed, one and two threads;
- Python + autograd cost of an lstmkit call with the kernels replaced by no-ops, and
  torch.nn.LSTM's own call cost on a tiny LSTM (T=2, H=8);
- drawing a 512 x 128 dropout mask: torch.bernoulli against torch.rand.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import torch

import lstmkit
from lstmkit.engines import fused_build
from lstmkit.engines import fused_ops as ops

FMA_LOOP = r"""
#include <stdio.h>
#include <time.h>
/* One register per vector (zmm, ymm or xmm) and chains that fit the register file: a
 * 64-byte type on AVX2 spills and measures the stack, not the FMA units. */
#if defined(__AVX512F__)
#define BYTES 64
#define CHAINS 16
#elif defined(__AVX__)
#define BYTES 32
#define CHAINS 12
#else
#define BYTES 16
#define CHAINS 12
#endif
typedef float vec __attribute__((vector_size(BYTES)));
int main(void) {
    volatile float one = 1.0f, zero = 0.0f; /* opaque: the loop must not fold away */
    vec a[CHAINS], b = (vec){0} + one, c = (vec){0} + zero;
    for (int i = 0; i < CHAINS; i++) a[i] = (vec){0} + (float)i;
    long n = 100000000;
    struct timespec t0, t1;
    /* CPU time: equal to wall time when the core is free, and not inflated when shared */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    for (long k = 0; k < n; k++)
#pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) a[i] = a[i] * b + c;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    float sum = 0;
    for (int i = 0; i < CHAINS; i++) sum += a[i][0];
    printf("%.1f %d %g\n", 2.0 * CHAINS * (BYTES / 4) * n / s / 1e9, BYTES * 8, sum);
    return 0;
}
"""


def best_us(fn, repeats: int = 5, number: int = 200, clock=time.perf_counter) -> float:
    """Fastest mean over `repeats` blocks of `number` calls, in microseconds."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        for _ in range(number):
            fn()
        times.append((clock() - start) / number)
    return 1e6 * min(times)


def fma_peak() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp, "fma.c"), Path(tmp, "fma")
        src.write_text(FMA_LOOP)
        subprocess.run(["gcc", "-O3", "-march=native", str(src), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    rate, bits = out.split()[:2]
    return f"FMA peak, one core ({bits}-bit vectors): {rate} GFLOP/s"


def gemm_rates() -> list[str]:
    lines = []
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    am, bm = a.to_mkldnn(), b.to_mkldnn()
    da, hin = torch.randn(3200, 512), torch.randn(3200, 128)
    out = torch.empty(512, 128)
    mm = fused_build.matmul("lstm", torch.float32)
    onednn = torch.ops.aten.mkldnn_linear

    def fused_gemm(threads: int) -> None:
        mm(1, 512, 128, 3200, da.data_ptr(), 512, hin.data_ptr(), 128, 1, None,
           out.data_ptr(), 128, 0, threads)  # fmt: skip

    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, fn, flop in (
            ("torch.mm 1024^3", lambda: torch.mm(a, b), 2 * 1024**3),
            ("oneDNN mkldnn_linear 1024^3", lambda: onednn(am, bm), 2 * 1024**3),
            ("fused GEMM 512x128x3200, A^T", lambda t=threads: fused_gemm(t), 2 * 512 * 128 * 3200),
        ):  # fmt: skip
            # one thread: process CPU time, which a loaded machine does not inflate
            clock = time.process_time if threads == 1 else time.perf_counter
            us = best_us(fn, number=20, clock=clock)
            lines.append(f"{name}, {threads} thread(s): {flop / us / 1e3:.0f} GFLOP/s")
    return lines


def call_costs() -> list[str]:
    torch.set_num_threads(2)
    x = torch.randn(100, 1, 32)
    layer = lstmkit.LSTM(32, 128, engine="fused")
    params = list(layer.parameters())

    def train(module, inp, ps):
        def step() -> None:
            for p in ps:
                p.grad = None
            out, _ = module(inp)
            out.mean().backward()

        return step

    def infer(module, inp):
        def call() -> None:
            with torch.no_grad():
                module(inp)

        return call

    run, matmul = ops._run, ops._matmul
    ops._run, ops._matmul = (lambda *a: None), (lambda cfg, out, *a, **k: out)
    try:
        ours = best_us(train(layer, x, params)), best_us(infer(layer, x))
    finally:
        ops._run, ops._matmul = run, matmul
    tiny, tx = torch.nn.LSTM(8, 8), torch.randn(2, 1, 8)
    theirs = best_us(train(tiny, tx, list(tiny.parameters()))), best_us(infer(tiny, tx))
    return [
        f"lstmkit call with no-op kernels (B=1, T=100, H=128), train step / inference: "
        f"{ours[0]:.0f} / {ours[1]:.0f} us",
        f"torch.nn.LSTM T=2, H=8, train step / inference: {theirs[0]:.0f} / {theirs[1]:.0f} us",
    ]


def mask_costs() -> str:
    w = torch.empty(512, 128)
    bern = best_us(lambda: torch.bernoulli(torch.full_like(w, 0.75)))
    rand = best_us(lambda: torch.rand_like(w) >= 0.25)
    return f"512 x 128 mask: torch.bernoulli {bern:.0f} us, torch.rand >= p {rand:.0f} us"


if __name__ == "__main__":
    for line in [fma_peak(), *gemm_rates(), *call_costs(), mask_costs()]:
        print(line)
