"""The embedded sentiment set (Hutto & Gilbert 2014) and its evaluation beside VADER.

Protocol (`lstmkit classify --dataset sentiment`):
- four corpora (amazon, movie, nyt, tweets), each text with the mean rating of 20 human
  raters on -4..+4;
- binary polarity of that mean: "positive" if mean > 0, "negative" if mean < 0; a mean of
  exactly 0 (|mean| <= NEUTRAL, the file's neutral) is left out, as in the published
  VADER figures;
- a fixed 80/20 split within each corpus, drawn from SPLIT_SEED whatever the run's
  ``--seed``, so every model and baseline is scored on the same test texts;
- scores per corpus and pooled: accuracy and macro-F1.
"""

from __future__ import annotations

import lzma

import numpy as np

from lstmkit.data.registry import dataset_file
from lstmkit.metrics.classification import classification_report

from .baseline import TfidfLogisticRegression
from .data import LabelledTexts

__all__ = [
    "CORPORA",
    "NEUTRAL",
    "SPLIT_SEED",
    "format_corpus_table",
    "load_sentiment",
    "per_corpus_scores",
    "sentiment_split",
    "sentiment_table",
    "vader_predict",
]

# Corpus name -> the file of the ground truth (id, mean rating, text; tab-separated).
CORPORA = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt.xz",
    "movie": "movieReviewSnippets_GroundTruth.txt.xz",
    "nyt": "nytEditorialSnippets_GroundTruth.txt.xz",
    "tweets": "tweets_GroundTruth.txt.xz",
}
NEUTRAL = 0.0  # |mean| <= NEUTRAL is neutral and left out: only the exact 0 of the file
SPLIT_SEED = 20140601  # fixed: the split never moves with a run's --seed
TEST_SHARE = 0.2
EXTRA = "baselines"  # the pip extra that installs vaderSentiment


def load_sentiment(corpus: str) -> list[tuple[str, float, str]]:
    """(id, mean rating, text) of every text of one corpus, in file order.

    Args:
        corpus: one of CORPORA.

    Returns:
        All texts, neutral ones included (a few bytes that are not UTF-8 read as U+FFFD).
    """
    if corpus not in CORPORA:
        raise ValueError(f"unknown sentiment corpus {corpus!r}; choose from {sorted(CORPORA)}")
    raw = lzma.decompress(dataset_file(f"sentiment_vader/{CORPORA[corpus]}").read_bytes())
    rows = []
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise ValueError(f"{CORPORA[corpus]} line {number} is not 'id<TAB>mean<TAB>text'")
        rows.append((parts[0], float(parts[1]), parts[2]))
    return rows


def sentiment_split(
    corpora: tuple[str, ...] = tuple(CORPORA),
) -> tuple[LabelledTexts, LabelledTexts]:
    """The fixed 80/20 split within each corpus, neutral texts left out.

    Each corpus's non-neutral texts are permuted by a generator seeded with SPLIT_SEED and
    the corpus's position in CORPORA; the first fifth (rounded) is the test part.

    Args:
        corpora: which corpora to include (default all four).

    Returns:
        `(train, test)` LabelledTexts, labels "positive"/"negative", the corpus in `groups`.
    """
    train, test = LabelledTexts([], [], []), LabelledTexts([], [], [])
    for corpus in corpora:
        rows = [(m, t) for _, m, t in load_sentiment(corpus) if abs(m) > NEUTRAL]
        rng = np.random.default_rng([SPLIT_SEED, list(CORPORA).index(corpus)])
        order = rng.permutation(len(rows))
        n_test = round(len(rows) * TEST_SHARE)
        for rank, i in enumerate(order):
            mean, text = rows[i]
            part = test if rank < n_test else train
            part.texts.append(text)
            part.labels.append("positive" if mean > 0 else "negative")
            part.groups.append(corpus)
    return train, test


def vader_predict(texts: list[str]) -> list[str]:
    """VADER's polarity of each text: "positive" if its compound score is >= 0.

    Raises:
        ImportError: one line naming the extra when vaderSentiment is not installed.
    """
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise ImportError(
            f"the VADER baseline needs vaderSentiment: pip install 'lstmkit[{EXTRA}]' "
            "(or pass --no-baseline)"
        ) from None
    analyzer = SentimentIntensityAnalyzer()
    return [
        "positive" if analyzer.polarity_scores(t)["compound"] >= 0 else "negative" for t in texts
    ]


def per_corpus_scores(
    test: LabelledTexts, predictions: dict[str, list[str]]
) -> dict[str, dict[str, dict[str, float]]]:
    """Accuracy and macro-F1 of each system, per corpus of `test.groups` and pooled.

    Args:
        test: the labelled test texts, the corpus of each in `groups`.
        predictions: system name -> a predicted label per test text, in order.

    Returns:
        ``{system: {corpus or "pooled": {"accuracy", "macro_f1", "n"}}}``.
    """
    classes = sorted(set(test.labels))
    index = {c: i for i, c in enumerate(classes)}
    y_true = np.array([index[y] for y in test.labels])
    groups = np.array(test.groups)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for system, labels in predictions.items():
        if len(labels) != len(y_true):
            raise ValueError(f"{system}: {len(labels)} predictions for {len(y_true)} test texts")
        y_pred = np.array([index.get(y, -1) for y in labels])
        out[system] = {}
        for corpus in [*sorted(set(test.groups)), "pooled"]:
            keep = np.ones(len(y_true), bool) if corpus == "pooled" else groups == corpus
            report = classification_report(y_true[keep], y_pred[keep], classes)
            out[system][corpus] = {
                "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"],
                "n": int(keep.sum()),
            }
    return out


def format_corpus_table(scores: dict[str, dict[str, dict[str, float]]]) -> str:
    """The scores as a text table: one row per corpus, accuracy / macro-F1 per system."""
    systems = list(scores)
    corpora = list(next(iter(scores.values())))
    head = f"{'corpus':<8} {'n':>5}  " + "  ".join(f"{s[:22]:>22}" for s in systems)
    lines = [head, f"{'':<8} {'':>5}  " + "  ".join(f"{'acc / macro-F1':>22}" for _ in systems)]
    for corpus in corpora:
        cells = [
            f"{scores[s][corpus]['accuracy']:.4f} / {scores[s][corpus]['macro_f1']:.4f}"
            for s in systems
        ]
        n = scores[systems[0]][corpus]["n"]
        lines.append(f"{corpus:<8} {n:>5}  " + "  ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def sentiment_table(
    train: LabelledTexts, test: LabelledTexts, lstm: list[str], *, baselines: bool = True
) -> dict[str, dict[str, dict[str, float]]]:
    """lstmkit's test predictions scored beside VADER and TF-IDF + LR on the same texts.

    Args:
        train: the training texts (the TF-IDF baseline learns from these only).
        test: the test texts, the corpus of each in `groups`.
        lstm: lstmkit's predicted label per test text.
        baselines: also run VADER and the character 1-3-gram TF-IDF + logistic regression.

    Returns:
        `per_corpus_scores` of "lstmkit" (and "VADER", "char 1-3-gram TF-IDF + LR").
    """
    predictions = {"lstmkit": lstm}
    if baselines:
        predictions["VADER"] = vader_predict(test.texts)
        classes = sorted(set(train.labels))
        y_train = [classes.index(y) for y in train.labels]
        tfidf = TfidfLogisticRegression((1, 3), "char").fit(train.texts, y_train)
        predictions["char 1-3-gram TF-IDF + LR"] = [classes[k] for k in tfidf.predict(test.texts)]
    return per_corpus_scores(test, predictions)
