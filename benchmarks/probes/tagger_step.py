"""Where a tagger's training step goes: batching, forward, backward, and the optimizer step
with torch's per-tensor Adam beside its fused Adam (the one `lstmkit.train` now builds).

The figure behind the fused optimizer in `lstmkit.train.optim`: run
`.venv/bin/python benchmarks/probes/tagger_step.py --threads 2` on the embedded UD English
EWT (the UPOS default's model and word vectors) and quote its output with the load average.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from lstmkit.tasks.tag import TagConfig, Tagger, load_dataset
from lstmkit.tasks.tag.cli import PRESETS, learn_vectors
from lstmkit.tasks.tag.data import make_batches


def seconds(steps, step) -> float:
    start = time.perf_counter()
    for batch in steps:
        step(batch)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=150)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    train = load_dataset("ud_english_ewt", "train")
    vectors = learn_vectors(dict(PRESETS["ud_english_ewt"]), train, TagConfig())
    t = Tagger(TagConfig(), vectors=vectors)
    t.prepare(train)  # fit's set-up: vocabularies, a fresh model with the vectors
    data = t._encode(train, labelled=True)
    start = time.perf_counter()
    batches = make_batches(data, 32, shuffle=True)
    batching = time.perf_counter() - start
    objective, model = t._objective(), t.model.train()
    params = list(model.parameters())
    print(f"{sum(p.numel() for p in params):,} weights ({model.words.weight.numel():,} in the "
          f"word table); {len(batches)} batches an epoch, {args.threads} threads, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"batching   {batching:6.2f} s an epoch")
    steps = batches[: args.batches]
    scale = len(batches) / len(steps)
    forward = seconds(steps, lambda b: objective(model, b, None))
    backward = seconds(steps, lambda b: objective(model, b, None).backward()) - forward
    print(f"forward    {scale * forward:6.2f} s an epoch\nbackward   {scale * backward:6.2f} s")
    timed = {}
    for name, options in (("per-tensor", {"foreach": False}), ("fused", {"fused": True})):
        optimizer = torch.optim.Adam(params, lr=1e-3, **options)
        optimizer.step()  # the moments exist from here on
        timed[name] = seconds(steps, lambda b, o=optimizer: o.step())
        print(f"Adam step  {scale * timed[name]:6.2f} s an epoch ({name})")
    print(f"fused / per-tensor Adam step: {timed['per-tensor'] / timed['fused']:.1f}x faster")


if __name__ == "__main__":
    main()
