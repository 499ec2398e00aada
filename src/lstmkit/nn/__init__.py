"""Reusable parts of task models, between the layers and the tasks.

- `SequenceEncoder`: token embedding or numeric features -> stacked (bi)LSTM/GRU;
- `Pooling`, `AdditiveAttentionPool`: one vector per sequence from its outputs;
- `filter_logits`, `pick_token`: choosing the next token (greedy, temperature, top-k/p);
  `generate_ids`: the loop continuing a prompt token by token;
- `LanguageModel`, `stream_objective`, `stream_nats`: a next-token LSTM model trained and
  scored on consecutive chunks of a stream (generate's LMs, the tagger's string embeddings).

Tasks add their own heads on top; parts used by more than one task live here.
"""

from lstmkit.nn.encoder import SequenceEncoder
from lstmkit.nn.language_model import LanguageModel, stream_nats, stream_objective
from lstmkit.nn.pooling import POOLINGS, AdditiveAttentionPool, Pooling, valid_mask
from lstmkit.nn.sampling import check_sampling, filter_logits, generate_ids, pick_token

__all__ = [
    "POOLINGS",
    "AdditiveAttentionPool",
    "LanguageModel",
    "Pooling",
    "SequenceEncoder",
    "check_sampling",
    "filter_logits",
    "generate_ids",
    "pick_token",
    "stream_nats",
    "stream_objective",
    "valid_mask",
]
