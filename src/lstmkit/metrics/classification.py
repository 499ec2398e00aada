"""Classification metrics: confusion matrix, accuracy, per-class precision/recall/F1, macro F1."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "format_report",
    "macro_f1",
    "precision_recall_f1",
]


def _as_labels(y, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Count (true class, predicted class) pairs.

    Args:
        y_true: true class indices, shape (N,).
        y_pred: predicted class indices, shape (N,).
        num_classes: number of classes K (default: 1 + the largest index seen).

    Returns:
        Integer array (K, K); entry [i, j] counts samples of class i predicted as j.
    """
    t, p = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} entries but y_pred has {p.size}")
    if t.size == 0:
        raise ValueError("cannot score an empty set of predictions")
    k = int(max(t.max(), p.max())) + 1 if num_classes is None else num_classes
    if min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k:
        raise ValueError(f"class indices must lie in [0, {k}); got {min(t.min(), p.min())}..")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the true class."""
    cm = confusion_matrix(y_true, y_pred)
    return float(np.trace(cm) / cm.sum())


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 from a confusion matrix.

    A class never predicted has precision 0, a class absent from the truth recall 0 (the
    convention of scikit-learn's `zero_division=0`), so no NaN reaches a report.

    Args:
        cm: confusion matrix (K, K) with true classes on rows.

    Returns:
        `(precision, recall, f1)`, each a float array of shape (K,).
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def macro_f1(y_true, y_pred, num_classes: int | None = None) -> float:
    """Unweighted mean of the per-class F1 scores (each class counts the same).

    Args:
        y_true: true class indices.
        y_pred: predicted class indices.
        num_classes: number of classes; classes absent from both count as F1 = 0, so pass
            it to score against the full label set.

    Returns:
        Macro F1 in [0, 1].
    """
    return float(precision_recall_f1(confusion_matrix(y_true, y_pred, num_classes))[2].mean())


def classification_report(y_true, y_pred, class_names: Sequence[str]) -> dict:
    """Every classification metric of a set of predictions, JSON-safe.

    Args:
        y_true: true class indices.
        y_pred: predicted class indices.
        class_names: a name per class index.

    Returns:
        Dict with accuracy, macro_f1, per-class precision/recall/f1/support under
        "per_class", and the confusion matrix as nested lists.
    """
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    precision, recall, f1 = precision_recall_f1(cm)
    per_class = {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(cm[i].sum()),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(np.trace(cm) / cm.sum()),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: dict) -> str:
    """A plain-text table of a `classification_report` result."""
    names = list(report["per_class"])
    width = max(9, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        row = report["per_class"][name]
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
            f"{row['f1']:5.3f}  {row['support']:7d}"
        )
    lines.append(f"accuracy {report['accuracy']:.4f}   macro F1 {report['macro_f1']:.4f}")
    return "\n".join(lines)
