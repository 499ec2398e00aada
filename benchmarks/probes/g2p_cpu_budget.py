"""Compare G2P settings at equal CPU time, on the validation split only, on a loaded machine.

The training loop's clock (``time.perf_counter``) is swapped for this process's CPU time,
so ``--cpu-minutes`` buys every setting the same work however busy the machine is (one
thread: CPU time = time on a core). Each run trains on the protocol's training words,
early-stops on the usual validation sample and prints the greedy WER/PER on the whole
validation split; the test split is never read. Run it niced, e.g.
`nice -n 19 .venv/bin/python benchmarks/probes/g2p_cpu_budget.py --cpu-minutes 4
--set batch_size=128 input_feeding=false`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from lstmkit.tasks.translate import TranslateConfig, Translator, task
from lstmkit.tasks.translate.g2p import g2p_split, load_cmudict
from lstmkit.train import Callback

SNAPSHOTS: list[dict[str, torch.Tensor]] = []  # the weights after each epoch (--average)


class KeepWeights(Callback):
    """Copies the weights at every epoch's end, for averaging the last ones afterwards."""

    def on_epoch_end(self, trainer: object, record: dict[str, object]) -> None:
        weights = trainer.model.state_dict()  # type: ignore[attr-defined]
        SNAPSHOTS.append({k: v.detach().clone() for k, v in weights.items()})


def fit_keeping_weights(*args: object, **kwargs: object) -> object:
    """The Translator's `fit` with `KeepWeights` added."""
    return FIT(*args, callbacks=[KeepWeights()], **kwargs)


FIT = task.fit


def parse_value(text: str) -> object:
    """JSON values (numbers, true/false, null); anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-minutes", type=float, default=4.0)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument(
        "--beam-alphas",
        nargs="*",
        type=float,
        default=[],
        help="also decode the validation words with beam 5 at these length penalties",
    )
    parser.add_argument(
        "--average",
        nargs="*",
        type=int,
        default=[],
        help="also decode greedily with the mean weights of the last K epochs, for each K",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    config = TranslateConfig(minutes=args.cpu_minutes, text_metrics=False, **overrides)
    train, valid, _ = g2p_split(load_cmudict())
    time.perf_counter = time.process_time  # the loop's budget and schedule: CPU time
    if args.average:
        task.fit = fit_keeping_weights
    wall = time.monotonic()
    model = Translator(config).fit(train, valid)
    wall = time.monotonic() - wall
    scores = model.evaluate(valid, beam_size=1)
    epochs = [round(r["epoch"] + 0.0, 2) for r in model.history]
    curve = [f"{r['val_wer']:.3f}" for r in model.history]
    print(
        f"{overrides} cpu {args.cpu_minutes} min, wall {wall:.0f} s, "
        f"{len(model.history)} validations {epochs}, val WER curve {curve}, "
        f"best {model.best_epoch}; "
        f"valid ({len(valid)} words) greedy WER {scores['wer']:.2%} PER {scores['per']:.2%}; "
        f"load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for k in args.average:
        report_average(model, valid, k)
    for alpha in args.beam_alphas:  # the trained model's beam at each length penalty
        model.config.length_penalty = alpha
        beam = model.evaluate(valid, beam_size=5)
        print(f"  beam 5, alpha {alpha}: WER {beam['wer']:.2%} PER {beam['per']:.2%}", flush=True)


def report_average(model: Translator, valid: object, k: int) -> None:
    """Greedy validation WER/PER with the mean of the last ``k`` epochs' weights."""
    assert model.model is not None
    kept = model.model.state_dict()
    last = SNAPSHOTS[-k:]
    model.model.load_state_dict({n: sum(w[n] for w in last) / len(last) for n in kept})
    scores = model.evaluate(valid, beam_size=1)  # type: ignore[arg-type]
    print(f"  mean of last {len(last)}: greedy WER {scores['wer']:.2%} PER {scores['per']:.2%}")
    model.model.load_state_dict(kept)


if __name__ == "__main__":
    main()
