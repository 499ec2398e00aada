"""Reusable parts of task models, between the layers and the tasks.

- `SequenceEncoder`: token embedding or numeric features -> stacked (bi)LSTM/GRU;
- `Pooling`, `AdditiveAttentionPool`: one vector per sequence from its outputs;
- `filter_logits`, `pick_token`: choosing the next token (greedy, temperature, top-k/p);
  `generate_ids`: the loop continuing a prompt token by token;
- `LanguageModel`, `stream_objective`, `stream_nats`: a next-token LSTM model trained and
  scored on consecutive chunks of a stream (generate's LMs, the tagger's string embeddings);
- `Attention`, `Seq2Seq`, `greedy_decode`, `beam_search`: an encoder-decoder with
  attention and its decoding (translate).

Tasks add their own heads on top; parts used by more than one task live here.
"""

from lstmkit.nn.attention import ATTENTIONS, Attention
from lstmkit.nn.beam import Hypothesis, beam_search, greedy_decode
from lstmkit.nn.encoder import SequenceEncoder
from lstmkit.nn.language_model import LanguageModel, stream_nats, stream_objective
from lstmkit.nn.pooling import POOLINGS, AdditiveAttentionPool, Pooling, valid_mask
from lstmkit.nn.sampling import check_sampling, filter_logits, generate_ids, pick_token
from lstmkit.nn.seq2seq import Seq2Seq, sequence_loss

__all__ = [
    "ATTENTIONS",
    "POOLINGS",
    "AdditiveAttentionPool",
    "Attention",
    "Hypothesis",
    "LanguageModel",
    "Pooling",
    "Seq2Seq",
    "SequenceEncoder",
    "beam_search",
    "check_sampling",
    "filter_logits",
    "generate_ids",
    "greedy_decode",
    "pick_token",
    "sequence_loss",
    "stream_nats",
    "stream_objective",
    "valid_mask",
]
