"""Training-step time of a 2-layer BiLSTM with lengths: packed (LSTM(lengths=)) vs PaddedBiLSTM.

The figure behind `lstmkit.nn.bilstm`: run `.venv/bin/python benchmarks/probes/padded_bilstm.py`
and quote its output with the load average beside it.
"""

from __future__ import annotations

import os
import time

import torch

from lstmkit.layers import LSTM
from lstmkit.nn.bilstm import PaddedBiLSTM


def step_ms(forward, x: torch.Tensor, rounds: int = 10) -> float:
    """Median milliseconds of forward + backward."""
    times = []
    for i in range(rounds + 3):
        start = time.perf_counter()
        forward(x).sum().backward()
        if i >= 3:  # the first calls warm the kernels up
            times.append(1000 * (time.perf_counter() - start))
    return sorted(times)[len(times) // 2]


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    batch, steps, inputs, hidden = 32, 25, 150, 128  # a tagger's batch of sentences
    lengths = torch.randint(10, steps + 1, (batch,))
    lengths[0] = steps
    x = torch.randn(batch, steps, inputs, requires_grad=True)
    packed = LSTM(inputs, hidden, num_layers=2, bidirectional=True, batch_first=True)
    padded = PaddedBiLSTM(inputs, hidden, num_layers=2)
    a = step_ms(lambda v: packed(v, lengths=lengths)[0], x)
    b = step_ms(lambda v: padded(v, lengths), x)
    load = os.getloadavg()[0]
    print(f"B={batch} T={steps} in={inputs} H={hidden} x2 layers, 1 thread, load {load:.1f}")
    print(
        f"LSTM(bidirectional, lengths=): {a:.0f} ms   PaddedBiLSTM: {b:.0f} ms   ratio {a / b:.2f}"
    )


if __name__ == "__main__":
    main()
