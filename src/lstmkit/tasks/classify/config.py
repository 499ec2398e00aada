"""ClassifyConfig: every setting of a sequence classifier run, saved with the model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lstmkit.nn import POOLINGS

__all__ = ["ClassifyConfig"]


@dataclass
class ClassifyConfig:
    """Settings of a sequence classifier; saved with the model.

    Args:
        tokens: text only: "char" or "word" tokens. Default "word".
        min_freq: text only: tokens seen fewer times in training become `<unk>`. Default 2.
        lowercase: text only: fold case. Default True.
        min_groups: text only: keep only tokens used in at least this many groups of the
            training texts (their `groups`, e.g. plays), so names tied to one play become
            `<unk>` and the model learns what carries over to unseen groups. Default 1.
        embedding_dim: text only: embedding width. Default 64.
        hidden_size: LSTM units per direction. Default 64.
        num_layers: stacked LSTM layers. Default 1.
        bidirectional: BiLSTM. Default True.
        pooling: "last", "mean", "max" or "attention". Default "mean".
        dropout: dropout rate. Default 0.3.
        noise: numeric only: std of Gaussian noise added to standardised inputs while
            training (a regulariser for small sets). Default 0.0.
        deltas: numeric only: append each feature's change from the previous step (the
            delta coefficients of speech front ends); on Japanese Vowels they lifted single
            models from 97.8% to 98.9% mean test accuracy. Default False.
        token_dropout: text only: share of tokens replaced by `<unk>` while training, so the
            model cannot lean on a few words (names) that unseen texts lack. Default 0.0.
        class_weight: None or "balanced" (loss weights n / (K * n_k), for imbalanced labels).
        epochs: training epochs; None (the default): counted from the data, the larger of
            40 and ceil(min_steps / batches per epoch), so small data gets enough optimizer
            steps (40 sequences are 3 batches: 40 passes were 120 steps, and BasicMotions,
            40 sequences of 100 steps, reached 65% test accuracy with them).
        min_steps: with `epochs=None`, the least number of optimizer steps. Default 1000.
        val_fraction: share of the training data (stratified, seeded) held out to pick the
            epoch with the lowest validation loss, whose weights are kept; 0: none (the
            epoch with the lowest training loss is kept). Default 0.0.
        batch_size: sequences per batch (bucketed by length). Default 16.
        lr: AdamW learning rate, decayed by a cosine schedule. Default 3e-3.
        weight_decay: AdamW weight decay. Default 1e-2.
        ensemble: members trained from different seeds; their probabilities are averaged.
        seed: seed of the first member (member m uses seed + m).
        progress: show progress bars.
        text_col: CSV reading (`Classifier.read_csv`, `lstmkit classify`): the text column,
            which makes it a text task; None: numeric sequences in long form. Default None.
        label_col: CSV reading: the label column. Default "label".
        id_col: CSV reading, long form: the sequence id column. Default "sequence".
        step_col: CSV reading, long form: the step column (None: the file's row order).
            Default "step".
        features: CSV reading, long form: the feature columns; None: every column but the
            id, step and label (the model remembers which it trained on). Default None.
    """

    tokens: str = "word"
    min_freq: int = 2
    lowercase: bool = True
    min_groups: int = 1
    embedding_dim: int = 64
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"
    dropout: float = 0.3
    noise: float = 0.0
    deltas: bool = False
    token_dropout: float = 0.0
    class_weight: str | None = None
    epochs: int | None = None
    min_steps: int = 1000
    val_fraction: float = 0.0
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-2
    ensemble: int = 1
    seed: int = 0
    progress: bool = False
    text_col: str | None = None
    label_col: str = "label"
    id_col: str = "sequence"
    step_col: str | None = "step"
    features: list[str] | None = None

    def __post_init__(self) -> None:
        if self.tokens not in ("char", "word"):
            raise ValueError(f"tokens must be 'char' or 'word', got {self.tokens!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must lie in [0, 1), got {self.val_fraction!r}")
        if not isinstance(self.min_steps, int) or self.min_steps < 0:
            raise ValueError(f"min_steps must be an integer >= 0, got {self.min_steps!r}")
        if self.epochs is not None and (not isinstance(self.epochs, int) or self.epochs < 1):
            raise ValueError(f"epochs must be a positive integer or None, got {self.epochs!r}")
        for name in ("batch_size", "ensemble", "hidden_size", "min_freq"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON data (what a saved classifier holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifyConfig:
        """Rebuild from `to_dict`'s output; unknown names are refused by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown classify settings {unknown}; known: {sorted(names)}")
        return cls(**data)
