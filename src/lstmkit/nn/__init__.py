"""Reusable parts of task models, between the layers and the tasks.

- `SequenceEncoder`: token embedding or numeric features -> stacked (bi)LSTM/GRU;
- `Pooling`, `AdditiveAttentionPool`: one vector per sequence from its outputs;
- `filter_logits`, `pick_token`: choosing the next token (greedy, temperature, top-k/p).

Tasks add their own heads on top; parts used by more than one task live here.
"""

from lstmkit.nn.encoder import SequenceEncoder
from lstmkit.nn.pooling import POOLINGS, AdditiveAttentionPool, Pooling, valid_mask
from lstmkit.nn.sampling import check_sampling, filter_logits, pick_token

__all__ = [
    "POOLINGS",
    "AdditiveAttentionPool",
    "Pooling",
    "SequenceEncoder",
    "check_sampling",
    "filter_logits",
    "pick_token",
    "valid_mask",
]
