"""Sequence classification: numeric sequences and texts, (Bi)LSTM with pooling, honest baselines."""

from .baseline import TfidfLogisticRegression
from .config import ClassifyConfig
from .data import (
    LabelledSequences,
    LabelledTexts,
    genre_passages,
    load_japanese_vowels,
    read_sequence_csv,
    read_text_csv,
)
from .model import POOLINGS, SequenceClassifier
from .task import Classifier

__all__ = [
    "POOLINGS",
    "Classifier",
    "ClassifyConfig",
    "LabelledSequences",
    "LabelledTexts",
    "SequenceClassifier",
    "TfidfLogisticRegression",
    "genre_passages",
    "load_japanese_vowels",
    "read_sequence_csv",
    "read_text_csv",
]
