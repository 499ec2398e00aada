"""TagConfig: every setting of a tagger run, checked once and saved with the model."""

from __future__ import annotations

from dataclasses import dataclass

from .model import OUTPUTS
from .schemes import SCHEMES

__all__ = ["TagConfig"]


@dataclass
class TagConfig:
    """Settings of a BiLSTM(-CRF) tagger; saved with the model, rebuilding it on load.

    Args:
        column: the tag column the data was read from ("upos", "xpos" or a 1-based number);
            kept so that `predict` writes CoNLL-U predictions into the same column.
            Default "upos".
        word_column: CoNLL column files: the token column's 1-based number (GermEval's
            files number their tokens in column 1); kept for `predict`. Default 1.
        scheme: the training tags' scheme: "auto" (detected: "none" for plain classes such
            as parts of speech, else "iob1", "bio" or "bioes"), or one of those. Chunk tags
            are learnt in BIOES and predicted in the training file's scheme. Default "auto".
        word_dim: word embedding width (the vectors' width when ``pretrained`` is given).
            Default 100.
        char_dim, char_hidden: character embedding width and character BiLSTM units per
            direction; char_hidden 0 disables character features. Defaults 32, 32.
        hidden_size, num_layers: the word BiLSTM's units per direction and layers.
            Defaults 128, 1: on 2 busy cores a run buys few epochs, and one layer with
            small character LSTMs needs a third of the multiply-adds of two layers with
            64-unit ones (README, tagging).
        dropout: on the BiLSTM's input, between its layers and on its output. Default 0.25.
        output: "softmax" or "crf". Default "crf".
        constraints: with a CRF on chunk tags, forbid illegal transitions (an I- or E- that
            continues nothing). Default True.
        lowercase: look words up lowercased (the character features keep the case).
            Default True.
        min_freq: training words seen fewer times share the unknown word's embedding.
            Default 1.
        word_dropout: alpha of word dropout: in training a word seen n times is replaced by
            the unknown word with probability alpha / (alpha + n) (Kiperwasser & Goldberg
            2016), so the unknown embedding learns from rare words. 0 disables. Default 0.25.
        max_chars: characters per word for the character features (a longer word keeps its
            first and last half). Default 30.
        max_length: the longest sentence, in words, the tagger accepts. Default 1000.
        pretrained: word vectors in word2vec/GloVe text format that initialise the word
            embeddings (their words join the vocabulary); None: trained from scratch.
        epochs: most passes over the training data. Default 40.
        batch_size: sentences per batch (bucketed by length). Default 32.
        lr: Adam learning rate at the start; it follows a half cosine to 0 over the run
            (over ``minutes`` when set, else over ``epochs``). Default 1e-2.
        clip_norm: gradient clipping by global norm. Default 5.0.
        patience: stop after this many epochs without a better dev score (accuracy, or
            entity F1 for chunk tags); None trains every epoch. Default 5.
        minutes: training time budget (training and dev evaluation); None: no budget.
        seed: seed of the run. Default 0.
        progress: show progress bars. Default False.
    """

    column: str = "upos"
    word_column: int = 1
    scheme: str = "auto"
    word_dim: int = 100
    char_dim: int = 32
    char_hidden: int = 32
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.25
    output: str = "crf"
    constraints: bool = True
    lowercase: bool = True
    min_freq: int = 1
    word_dropout: float = 0.25
    max_chars: int = 30
    max_length: int = 1000
    pretrained: str | None = None
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-2
    clip_norm: float = 5.0
    patience: int | None = 5
    minutes: float | None = None
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        self.column = str(self.column)
        if self.scheme not in ("auto", *SCHEMES):
            raise ValueError(f"scheme must be auto or one of {SCHEMES}, got {self.scheme!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        positive = ("word_column", "word_dim", "hidden_size", "num_layers", "min_freq", "max_chars")
        for name in (*positive, "max_length", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("char_dim", "char_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.char_hidden and not self.char_dim:
            raise ValueError("char_hidden > 0 needs char_dim > 0 (or set char_hidden to 0)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.word_dropout < 0:
            raise ValueError(f"word_dropout must be >= 0, got {self.word_dropout}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive integer or None, got {self.patience}")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"minutes must be positive or None, got {self.minutes}")
        if not self.lr > 0 or not self.clip_norm > 0:
            raise ValueError(f"lr and clip_norm must be positive, got {self.lr}, {self.clip_norm}")
