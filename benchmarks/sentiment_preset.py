"""How the sentiment preset was chosen: macro-F1 on a random fifth of the *training* part.

The test texts of `sentiment_split` are never touched here. Give a ClassifyConfig as JSON:

    .venv/bin/python benchmarks/sentiment_preset.py '{"pooling": "mean", "epochs": 2, ...}'
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from lstmkit.tasks.classify import Classifier, ClassifyConfig, LabelledTexts
from lstmkit.tasks.classify.sentiment import per_corpus_scores, sentiment_split


def main() -> None:
    torch.set_num_threads(1)
    train, _ = sentiment_split()
    held = set(np.random.default_rng(7).permutation(len(train.texts))[: len(train.texts) // 5])

    def part(keep):
        columns = (train.texts, train.labels, train.groups)
        return LabelledTexts(*[[c[i] for i in range(len(c)) if keep(i)] for c in columns])

    fit_part, val_part = part(lambda i: i not in held), part(lambda i: i in held)
    settings = json.loads(sys.argv[1])
    clf = Classifier(ClassifyConfig(**settings, text_col="text")).fit(fit_part)
    scores = per_corpus_scores(val_part, {"lstmkit": clf.predict(val_part)})["lstmkit"]
    print(sys.argv[1])
    print({corpus: round(s["macro_f1"], 4) for corpus, s in scores.items()})


if __name__ == "__main__":
    main()
