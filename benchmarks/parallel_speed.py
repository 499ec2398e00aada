"""1 vs 2 tune workers and 1 vs 2 DDP processes: wall, per-trial and per-step times.

Runs, one after another (each a fresh `lstmkit` process):

- ``lstmkit tune forecast --epochs E --trials N --pruner none --seed 0 --workers W``
  for W = 1, 2: wall time, and each trial's own duration from the study (trials.csv);
- ``lstmkit forecast train --epochs E --patience E --ensemble 1 --nproc P --threads 2/P``
  for P = 1, 2 (two cores either way):
  wall time, the time per optimizer step (the run's training and validation seconds over
  its steps, from rank 0's checkpoint) and the test MAE;
- ``lstmkit tag train --epochs T --nproc P --threads 2/P`` (UD English EWT UPOS, T = 1 by
  default, ~1 min a run) for P = 1, 2: a task whose step (a batch of 32 sentences through
  a character and a word BiLSTM) is large enough to split; the same figures, with the dev
  and test token accuracy.

Usage: ``python benchmarks/parallel_speed.py [--trials 6] [--tune-epochs 5] [--epochs 30]
[--tag-epochs 1]`` (``--tag-epochs 0`` skips the tagger).
Run it at normal priority under the measurement lock, and record the load beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def tune_figures(out: Path, workers: int, trials: int, epochs: int) -> dict:
    """Wall time and per-trial durations of one tune run."""
    import pandas as pd

    run = out / f"tune-w{workers}"
    wall = _run([sys.executable, "-m", "lstmkit", "tune", "forecast", "--epochs", str(epochs),
                 "--trials", str(trials), "--pruner", "none", "--seed", "0", "--workers",
                 str(workers), "--threads", "2", "--run", str(run)])  # fmt: skip
    table = pd.read_csv(run / "trials.csv")
    seconds = pd.to_timedelta(table["duration"]).dt.total_seconds()
    return {"wall_s": round(wall, 1), "trial_s_mean": round(float(seconds.mean()), 2),
            "trial_s": [round(float(s), 2) for s in seconds],
            "trials_per_min": round(60 * trials / wall, 2)}  # fmt: skip


def ddp_figures(out: Path, nproc: int, epochs: int) -> dict:
    """Wall time, training seconds per step and test MAE of one forecast training."""
    from lstmkit.tasks.forecast.task import Forecaster
    from lstmkit.train.checkpoint import read_checkpoint

    run = out / f"forecast-p{nproc}"
    command = [
        sys.executable,
        "-m",
        "lstmkit",
        "forecast",
        "train",
        "--epochs",
        str(epochs),
        "--patience",
        str(epochs),
        "--ensemble",
        "1",
        "--threads",
        str(2 // nproc),  # the same two cores either way
        "--run",
        str(run),
    ]
    wall = _run([*command, "--nproc", str(nproc)] if nproc > 1 else command)  # fmt: skip
    history = Forecaster.load(run).histories[0]
    spent = read_checkpoint(run / "checkpoint-0").meta["spent"]  # the whole run's steps, time
    mae = json.loads((run / "metrics.json").read_text())
    target = next(iter(mae))
    figures = {"wall_s": round(wall, 1), "epochs": len(history), "steps": spent["steps"],
               "train_s": round(spent["seconds"], 2),
               "ms_per_step": round(1000 * spent["seconds"] / spent["steps"], 2),
               "mae": round(mae[target]["lstmkit"]["MAE"], 2)}  # fmt: skip
    return figures


def tag_figures(out: Path, nproc: int, epochs: int) -> dict:
    """Wall time, seconds per step, dev and test accuracy of one tagger training."""
    from lstmkit.tasks.tag import Tagger
    from lstmkit.train.checkpoint import read_checkpoint

    run = out / f"tag-p{nproc}"
    command = [sys.executable, "-m", "lstmkit", "tag", "train", "--epochs", str(epochs),
               "--minutes", "60", "--threads", str(2 // nproc), "--run", str(run)]  # fmt: skip
    wall = _run([*command, "--nproc", str(nproc)] if nproc > 1 else command)
    spent = read_checkpoint(run / "checkpoint").meta["spent"]
    metrics = json.loads((run / "metrics.json").read_text())
    history = Tagger.load(run).history
    return {"wall_s": round(wall, 1), "epochs": len(history), "steps": spent["steps"],
            "train_s": round(spent["seconds"], 2),
            "ms_per_step": round(1000 * spent["seconds"] / spent["steps"], 2),
            "dev_accuracy": round(history[-1]["dev_accuracy"], 4),
            "test_accuracy": round(metrics["test"]["accuracy"], 4)}  # fmt: skip


def main() -> None:
    """Run the commands one after another and print their figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--tune-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--tag-epochs", type=int, default=1, help="0: no tagger runs")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="parallel-speed-"))
    result = {"load_before": os.getloadavg()}
    for workers in (1, 2):
        result[f"tune_workers_{workers}"] = tune_figures(
            out, workers, args.trials, args.tune_epochs
        )
    for nproc in (1, 2):
        result[f"forecast_nproc_{nproc}"] = ddp_figures(out, nproc, args.epochs)
    for nproc in (1, 2) if args.tag_epochs else ():
        result[f"tag_nproc_{nproc}"] = tag_figures(out, nproc, args.tag_epochs)
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
