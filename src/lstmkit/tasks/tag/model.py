"""The tagger network: word embeddings + character BiLSTM features (+ contextual string
embeddings) -> stacked BiLSTM -> per-word tag scores -> softmax or a linear-chain CRF."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.nn.bilstm import PaddedBiLSTM
from lstmkit.nn.char_words import CharWordEncoder
from lstmkit.nn.crf import LinearChainCRF

from .data import TagBatch

__all__ = ["OUTPUTS", "BiLSTMTagger"]

OUTPUTS = ("softmax", "crf")


class BiLSTMTagger(nn.Module):
    """BiLSTM tagger (Plank et al. 2016; with a CRF, Lample et al. 2016).

    For word t: x_t = [E_w[word_t]; charBiLSTM(word_t); f_t] (f_t: optional extra features
    such as contextual string embeddings), h = BiLSTM(dropout(x)), scores_t = W dropout(h_t)
    + b. "softmax" picks each word's tag independently; "crf" scores whole tag sequences
    (`LinearChainCRF`) and decodes the best one with Viterbi.

    Args:
        num_words, num_chars, num_tags: vocabulary sizes (id 0 of words and chars is padding).
        word_dim: word embedding width. Default 100.
        char_dim: character embedding width; 0 with char_hidden 0 disables characters.
        char_hidden: character BiLSTM units per direction (0: no character features).
        feature_size: width of the extra per-word features (0: none). Default 0.
        hidden_size: word BiLSTM units per direction. Default 128.
        num_layers: stacked word BiLSTM layers. Default 2.
        dropout: on the BiLSTM's input, between its layers and on its output. Default 0.33.
        output: "softmax" or "crf". Default "crf".
        allowed: CRF constraint masks (`transition_constraints`) or None.

    Inputs: a `TagBatch`.

    >>> from lstmkit.tasks.tag.data import Vocab, EncodedSentences
    >>> vocab = Vocab.build([["a", "b"]], [["X", "Y"]])
    >>> batch = EncodedSentences(vocab, [["a", "b"]], [["X", "Y"]]).batch([0])
    >>> model = BiLSTMTagger(num_words=4, num_chars=4, num_tags=2, hidden_size=8)
    >>> model.decode(batch).shape
    torch.Size([1, 2])
    """

    def __init__(
        self,
        *,
        num_words: int,
        num_chars: int,
        num_tags: int,
        word_dim: int = 100,
        char_dim: int = 32,
        char_hidden: int = 64,
        feature_size: int = 0,
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.33,
        output: str = "crf",
        allowed: tuple[Tensor, Tensor, Tensor] | None = None,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.words = nn.Embedding(num_words, word_dim, padding_idx=0)
        self.chars = CharWordEncoder(num_chars, char_dim, char_hidden) if char_hidden else None
        width = word_dim + (self.chars.output_size if self.chars else 0) + feature_size
        self.drop = nn.Dropout(dropout)
        self.encoder = PaddedBiLSTM(width, hidden_size, num_layers, dropout)
        self.scores = nn.Linear(self.encoder.output_size, num_tags)
        self.crf = LinearChainCRF(num_tags, allowed) if output == "crf" else None

    def emissions(self, batch: TagBatch, words: Tensor | None = None) -> Tensor:
        """Per-word tag scores (B, T, K); ``words`` replaces ``batch.words`` (word dropout)."""
        parts = [self.words(batch.words if words is None else words)]  # (B, T, E)
        if self.chars is not None:
            spelled = self.chars(batch.chars, batch.char_lengths)  # (W, 2C)
            parts.append(spelled[batch.word_chars])  # (B, T, 2C)
        if batch.features is not None:
            parts.append(batch.features)  # (B, T, F)
        out = self.encoder(self.drop(torch.cat(parts, dim=-1)), batch.lengths)  # (B, T, 2H)
        return self.scores(self.drop(out))

    def forward(self, batch: TagBatch, words: Tensor | None = None) -> Tensor:
        """The training loss (`loss`): what the training objective calls, so that under DDP
        the call goes through the wrapper that averages the gradients."""
        return self.loss(batch, words)

    def loss(self, batch: TagBatch, words: Tensor | None = None) -> Tensor:
        """Mean loss per word: cross-entropy (softmax) or the CRF's NLL over the words."""
        if batch.tags is None:
            raise ValueError("the batch has no tags to learn from")
        emissions = self.emissions(batch, words)
        tokens = batch.lengths.sum()
        if self.crf is not None:
            return self.crf.nll(emissions, batch.tags, batch.lengths, reduction="sum") / tokens
        mask = torch.arange(emissions.shape[1])[None, :] < batch.lengths[:, None]
        return F.cross_entropy(emissions[mask], batch.tags[mask])

    @torch.no_grad()
    def decode(self, batch: TagBatch) -> Tensor:
        """The predicted tag ids (B, T), 0 past each length."""
        emissions = self.emissions(batch)
        if self.crf is not None:
            return self.crf.decode(emissions, batch.lengths)[0]
        mask = torch.arange(emissions.shape[1])[None, :] < batch.lengths[:, None]
        return emissions.argmax(-1).masked_fill(~mask, 0)
