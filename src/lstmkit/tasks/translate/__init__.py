"""Sequence to sequence: an attention encoder-decoder LSTM; G2P on CMUdict by default."""

from .config import TranslateConfig
from .data import PairBatches, ParallelData, Vocabulary, read_tsv, split_items
from .g2p import g2p_split, load_cmudict
from .task import Translation, Translator

__all__ = [
    "PairBatches",
    "ParallelData",
    "TranslateConfig",
    "Translation",
    "Translator",
    "Vocabulary",
    "g2p_split",
    "load_cmudict",
    "read_tsv",
    "split_items",
]
