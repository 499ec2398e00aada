"""Language models: character- and word-level LSTM text generation with truncated BPTT."""

from lstmkit.nn import LanguageModel, filter_logits, generate_ids

from .task import HELD_OUT_PLAYS, Corpus, GenerateConfig, TextGenerator

__all__ = [
    "HELD_OUT_PLAYS",
    "Corpus",
    "GenerateConfig",
    "LanguageModel",
    "TextGenerator",
    "filter_logits",
    "generate_ids",
]
