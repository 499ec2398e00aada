"""Do classify's defaults travel? lstmkit's default classifier vs 1-NN Euclidean per dataset.

The datasets are the UCR/UEA sets that the `sktime` package ships (a dev/benchmark-only
tool: `pip install --no-deps sktime==1.2.0 scikit-base==1.1.1`, never a runtime dependency
and never embedded) plus the embedded Japanese Vowels. Nothing is tuned on a test split:
with ``--validate`` every dataset's *training* part is split 75/25 (stratified, seed 0) and
the scores are on that validation quarter; that mode is what chose the defaults. Without it
the model trains on the whole official train split and is scored on the official test.

    .venv/bin/python benchmarks/classify_defaults.py [--validate] [--datasets A,B] [--set k=v]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch

from lstmkit.tasks.classify import (
    Classifier,
    ClassifyConfig,
    LabelledSequences,
    load_japanese_vowels,
)

DATASETS = ("BasicMotions", "ArrowHead", "GunPoint", "ItalyPowerDemand", "JapaneseVowels")


def load(name: str, split: str) -> LabelledSequences:
    """One official split as (T, C) float sequences (sktime's numpy3D is (N, C, T))."""
    if name == "JapaneseVowels":
        return load_japanese_vowels(split)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sktime.datasets import load_UCR_UEA_dataset

        x, y = load_UCR_UEA_dataset(name, split=split, return_type="numpy3D")
    seqs = [torch.tensor(s.T, dtype=torch.float32) for s in x]
    features = [f"c{i}" for i in range(x.shape[1])]
    return LabelledSequences(seqs, [str(v) for v in y], features)


def validation_split(data: LabelledSequences, share: float = 0.25, seed: int = 0):
    """(fit part, validation part) of a training split, stratified by label."""
    rng = np.random.default_rng(seed)
    val = set()
    for label in sorted(set(data.labels)):
        idx = [i for i, y in enumerate(data.labels) if y == label]
        val.update(rng.permutation(idx)[: max(1, round(len(idx) * share))].tolist())
    parts = []
    for keep in (lambda i: i not in val, lambda i: i in val):
        sel = [i for i in range(len(data.labels)) if keep(i)]
        parts.append(
            LabelledSequences([data.seqs[i] for i in sel], [data.labels[i] for i in sel],
                              data.features)
        )  # fmt: skip
    return parts


def nearest_neighbour(train: LabelledSequences, test: LabelledSequences) -> float:
    """Accuracy of 1-NN with Euclidean distance; unequal lengths resampled to the longest."""
    length = max(len(s) for s in train.seqs + test.seqs)

    def flat(seqs):
        grid = np.linspace(0, 1, length)
        rows = []
        for s in seqs:
            s = s.numpy()
            at = np.linspace(0, 1, len(s))
            rows.append(np.stack([np.interp(grid, at, s[:, c]) for c in range(s.shape[1])], 1))
        return np.stack(rows).reshape(len(seqs), -1)

    a, b = flat(train.seqs), flat(test.seqs)
    dist = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None]
    predicted = np.array(train.labels)[dist.argmin(1)]
    return float((predicted == np.array(test.labels)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validate", action="store_true", help="score on a quarter of train")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--set", action="append", default=[], help="config override k=json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    print(f"{'dataset':<18} {'train':>5} {'test':>5} {'T':>4} {'C':>3}  "
          f"{'lstmkit':>7} {'1-NN ED':>7} {'seconds':>7}")  # fmt: skip
    for name in args.datasets.split(","):
        train, test = load(name, "train"), load(name, "test")
        if args.validate:
            train, test = validation_split(train)
        start = time.perf_counter()
        clf = Classifier(ClassifyConfig(**overrides)).fit(train)
        seconds = time.perf_counter() - start
        acc = clf.evaluate(test)["accuracy"]
        steps = max(len(s) for s in train.seqs)
        print(f"{name:<18} {len(train.labels):>5} {len(test.labels):>5} {steps:>4} "
              f"{len(train.features):>3}  {acc:>7.4f} {nearest_neighbour(train, test):>7.4f} "
              f"{seconds:>7.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
