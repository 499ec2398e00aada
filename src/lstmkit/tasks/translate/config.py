"""TranslateConfig: the settings of a sequence-to-sequence run, validated once, saved with it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from lstmkit.nn.attention import ATTENTIONS

from .data import TOKENS

__all__ = ["TranslateConfig"]


@dataclass
class TranslateConfig:
    """Settings of an encoder-decoder run (defaults: the CMUdict G2P run of the README).

    Args:
        source_tokens, target_tokens: "char" or "word" for each side. Default "char" and
            "word" (letters in, space-separated phonemes out).
        min_freq: tokens seen fewer times in training become <unk>. Default 1.
        embedding_dim: source and target embedding width. Default 64.
        hidden_size: decoder width = encoder output width. Default 256.
        encoder_layers: stacked encoder LSTM layers. Default 2: at equal CPU time (10
            minutes, one thread, validation words only, benchmarks/probes/g2p_cpu_budget.py)
            two layers reached a greedy validation WER of 28.50% (PER 6.89%) in 8 epochs,
            one layer 29.45% (7.18%) in 10.
        decoder_layers: stacked decoder LSTM layers. Default 1.
        bidirectional: bidirectional encoder. Default True.
        attention: "additive" (Bahdanau), "dot" or "general" (Luong). Default "general".
        input_feeding: feed the previous attentional vector into the decoder. Default False:
            without it training runs all decoder steps in one call, 1.9x the pairs per
            CPU-second, and at equal CPU time (2 min, one thread) it reached a greedy
            validation WER of 45.9% against 54.7% with it (batch 128;
            benchmarks/probes/g2p_cpu_budget.py).
        dropout: on embeddings, between layers and on the attentional vector. Default 0.1:
            a 20-minute run sees the training words 8-25 times (by the load), where more
            dropout mostly slows learning (0.25: greedy validation WER 30.77% against 29.45%
            after 10 CPU-minutes, the same probe).
        tie_embeddings: share the target embedding with the output layer. Default False.
        sampling_prob: scheduled sampling probability in training. Default 0.0.
        label_smoothing: of the training loss. Default 0.1.
        batch_size: pairs per batch, bucketed by source length. Default 64: at equal CPU
            time it beat 128 and 256 (validation WER 43.9%, 45.9%, 53.6% after 2 CPU-minutes).
        lr: Adam's learning rate, decayed along a cosine to 0 over the run (over the time
            budget when ``minutes`` is set). Default 3e-3.
        clip_norm: gradient clipping by global norm. Default 1.0.
        epochs: at most this many passes over the training pairs. Default 100.
        minutes: training time budget (None: none); validation counts in it. Default 20.
        max_val_items: validation (greedy WER after each epoch) decodes at most this many
            of the held-out items, a fixed seeded sample, so that it costs little of the
            budget; None: all. Default 3000.
        patience: stop after this many validations without a better WER (None: never).
            Default 6.
        beam_size: beam of `evaluate`/`predict` (1: greedy). Default 5.
        length_penalty: alpha of the beam score log p / length ** alpha. Default 1.0.
        max_length_ratio, max_length_extra: outputs are at most floor(ratio * source
            length) + extra tokens, end included. Default 2.0 and 5.
        text_metrics: also report BLEU and chrF (sacrebleu) for word-level targets.
            Default True (the G2P run turns it off: BLEU over phonemes says little).
        seed: weights, dropout and batch order. Default 0.
        progress: show progress bars. Default False.
    """

    source_tokens: str = "char"
    target_tokens: str = "word"
    min_freq: int = 1
    embedding_dim: int = 64
    hidden_size: int = 256
    encoder_layers: int = 2
    decoder_layers: int = 1
    bidirectional: bool = True
    attention: str = "general"
    input_feeding: bool = False
    dropout: float = 0.1
    tie_embeddings: bool = False
    sampling_prob: float = 0.0
    label_smoothing: float = 0.1
    batch_size: int = 64
    lr: float = 3e-3
    clip_norm: float = 1.0
    epochs: int = 100
    minutes: float | None = 20.0
    max_val_items: int | None = 3000
    patience: int | None = 6
    beam_size: int = 5
    length_penalty: float = 1.0
    max_length_ratio: float = 2.0
    max_length_extra: int = 5
    text_metrics: bool = True
    seed: int = 0
    progress: bool = False

    def __post_init__(self) -> None:
        for name in ("source_tokens", "target_tokens"):
            if getattr(self, name) not in TOKENS:
                raise ValueError(f"{name} must be 'char' or 'word', got {getattr(self, name)!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"attention must be one of {', '.join(ATTENTIONS)}, got {self.attention!r}"
            )
        for name in (
            "min_freq",
            "embedding_dim",
            "hidden_size",
            "encoder_layers",
            "decoder_layers",
            "batch_size",
            "epochs",
            "beam_size",
        ):
            _positive_int(self, name)
        for name in ("patience", "max_val_items"):
            if getattr(self, name) is not None:
                _positive_int(self, name)
        _check_int(self, "max_length_extra", 0)
        _check_int(self, "seed", 0)
        for name in ("dropout", "label_smoothing"):
            if not 0 <= _number(self, name) < 1:
                raise ValueError(f"{name} must lie in [0, 1), got {getattr(self, name)}")
        if not 0 <= _number(self, "sampling_prob") <= 1:
            raise ValueError(f"sampling_prob must lie in [0, 1], got {self.sampling_prob}")
        for name in ("lr", "clip_norm"):
            if _number(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.minutes is not None and _number(self, "minutes") <= 0:
            raise ValueError(f"minutes must be > 0 (or None: no budget), got {self.minutes}")
        for name in ("length_penalty", "max_length_ratio"):
            if _number(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.bidirectional and self.hidden_size % 2:
            raise ValueError(
                f"a bidirectional encoder needs an even hidden_size, got {self.hidden_size}"
            )
        for name in (
            "bidirectional",
            "input_feeding",
            "tie_embeddings",
            "text_metrics",
            "progress",
        ):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON data."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranslateConfig:
        """Rebuild from `to_dict`; unknown names are refused, naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TranslateConfig fields {unknown}")
        return cls(**data)


def _check_int(cfg: TranslateConfig, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _positive_int(cfg: TranslateConfig, name: str) -> None:
    _check_int(cfg, name, 1)


def _number(cfg: TranslateConfig, name: str) -> float:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    setattr(cfg, name, float(value))
    return float(value)
