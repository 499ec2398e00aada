"""What callbacks cost the training loop: a step hook's private generators, and one drawing of
the learning curves (why LearningCurves draws at checkpoints and at the end, not every epoch).

Run `python benchmarks/probes/callbacks.py`; it trains a tiny model (one Linear layer, the
worst case: its step is cheapest) for a fixed number of steps with no callback and with a
callback whose on_step_end does nothing, prints the median time per step of each over
several repeats, then times plot_learning_curves on a 20-epoch history. Times are CPU
time of this process (one thread), so other programs loading the machine sway them little.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lstmkit.plots import plot_learning_curves
from lstmkit.train import Callback, TrainConfig, fit


class StepHook(Callback):
    def on_step_end(self, trainer, step):
        pass


def per_step_us(callbacks, steps=400, repeats=7) -> float:
    x = torch.randn(16, 8)
    batches = [(x, x.sum(1, keepdim=True))] * steps
    mse = lambda m, batch, state: F.mse_loss(m(batch[0]), batch[1])  # noqa: E731
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fit(torch.nn.Linear(8, 1), mse, batches, TrainConfig(epochs=1, progress=False),
            callbacks=callbacks)  # fmt: skip
        times.append((time.process_time() - start) / steps * 1e6)
    return statistics.median(times)


def draw_seconds(repeats=5) -> float:
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "accuracy": 1 - 1 / (e + 1),
         "lr": 1e-3 * 0.9**e, "seconds": 1.0}
        for e in range(1, 21)
    ]  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "curves.png"
    plot_learning_curves(history, path, monitor="val_loss", best_epoch=20)  # warm matplotlib
    times = []
    for _ in range(repeats):
        start = time.process_time()
        plot_learning_curves(history, path, monitor="val_loss", best_epoch=20)
        times.append(time.process_time() - start)
    return statistics.median(times)


if __name__ == "__main__":
    torch.set_num_threads(1)
    per_step_us([])  # warm-up: the first optimizer step imports and compiles
    plain, hooked = per_step_us([]), per_step_us([StepHook()])
    print(f"step without callbacks {plain:.0f} us; with an on_step_end callback {hooked:.0f} us "
          f"(+{hooked - plain:.0f} us: the private copy of the generators)")  # fmt: skip
    print(f"one learning-curve drawing of 20 epochs: {draw_seconds():.3f} s")
