"""An encoder-decoder LSTM with attention (Bahdanau et al. 2015; Luong et al. 2015)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstmkit.cell_layers import LSTMCell
from lstmkit.engines.select import engine_for
from lstmkit.nn.attention import Attention
from lstmkit.nn.encoder import SequenceEncoder
from lstmkit.nn.pooling import valid_mask

__all__ = ["DecoderState", "EncoderMemory", "Seq2Seq", "sequence_loss"]


class EncoderMemory(NamedTuple):
    """What the decoder attends to: encoder outputs (B, S, H), their projection, the mask."""

    outputs: Tensor  # (B, S, H) keys and values
    prepared: Tensor  # (B, S, A) Attention.prepare(outputs)
    mask: Tensor  # (B, S) True at valid source positions

    def select(self, index: Tensor) -> EncoderMemory:
        """The rows ``index`` (beam search repeats and reorders sentences)."""
        return EncoderMemory(*(t.index_select(0, index) for t in self))


class DecoderState(NamedTuple):
    """The decoder's recurrent state between steps."""

    h: Tensor  # (L, B, H)
    c: Tensor  # (L, B, H)
    feed: Tensor  # (B, A) the previous attentional vector (input feeding; zeros at the start)

    def select(self, index: Tensor) -> DecoderState:
        """The rows ``index`` of every part."""
        return DecoderState(
            self.h.index_select(1, index),
            self.c.index_select(1, index),
            self.feed.index_select(0, index),
        )


class Seq2Seq(nn.Module):
    r"""A (bi)LSTM encoder, an LSTM decoder attending over it, a softmax over target tokens.

    Decoder step t (Luong et al. 2015, with input feeding when ``input_feeding``):

        x_t = [E y_{t-1}; h̃_{t-1}]   (or E y_{t-1})     decoder input
        h_t = LSTM(x_t, h_{t-1})                        top layer's output
        c_t, a_t = Attention(h_t, encoder outputs)      context and weights
        h̃_t = tanh(W_c [c_t; h_t])                      attentional vector
        p(y_t | y_<t, x) = softmax(W_s h̃_t + b_s)

    The decoder starts from the encoder's final state (the last layer's directions
    concatenated, for every decoder layer). Decoding steps through time with lstmkit's
    `LSTMCell`s (a step of the cell costs half a one-step call of the LSTM layer: oneDNN
    re-lays out its weights on every call), and so does training with input feeding or
    scheduled sampling, which need the steps. Teacher-forced training without them runs
    each decoder layer over all target steps in one engine call and attends for all steps
    at once: 1.7x the pairs per CPU-second of the stepped decoder on G2P batches
    (`benchmarks/probes/g2p_plain.py`).

    Args:
        source_vocab, target_vocab: vocabulary sizes.
        embedding_dim: source and target embedding width. Default 64.
        hidden_size: decoder width and encoder output width (a bidirectional encoder has
            hidden_size / 2 units per direction). Default 256.
        encoder_layers, decoder_layers: stacked LSTM layers. Default 1 each.
        bidirectional: bidirectional encoder. Default True.
        attention: "additive", "dot" or "general". Default "general".
        input_feeding: feed h̃_{t-1} into step t. Default True.
        dropout: on embeddings, between layers and on h̃_t. Default 0.2.
        tie_embeddings: the output layer shares the target embedding matrix (h̃_t then has
            embedding_dim features; Press & Wolf 2017). Default False.
        sampling_prob: scheduled sampling (Bengio et al. 2015): in training, each step's
            input is the model's own previous argmax with this probability. Default 0.0.
        pad_id, bos_id, eos_id: padding, start and end tokens of the target vocabulary.

    Inputs: src (B, S) token ids, src_lengths (B,), tgt_in (B, T) = <s> y_1 .. y_{T-1}.
    Outputs: logits (B, T, target_vocab) (and the attention weights (B, T, S) with
        ``return_attention=True``).

    >>> model = Seq2Seq(10, 12, embedding_dim=8, hidden_size=16)
    >>> src, lengths = torch.randint(4, 10, (3, 5)), torch.tensor([5, 3, 1])
    >>> model(src, lengths, torch.randint(4, 12, (3, 7))).shape
    torch.Size([3, 7, 12])
    """

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        embedding_dim: int = 64,
        hidden_size: int = 256,
        encoder_layers: int = 1,
        decoder_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "general",
        input_feeding: bool = True,
        dropout: float = 0.2,
        tie_embeddings: bool = False,
        sampling_prob: float = 0.0,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
    ) -> None:
        super().__init__()
        directions = 2 if bidirectional else 1
        if hidden_size % directions:
            raise ValueError(
                f"a bidirectional encoder needs an even hidden_size, got {hidden_size}"
            )
        if not 0.0 <= sampling_prob <= 1.0:
            raise ValueError(f"sampling_prob must lie in [0, 1], got {sampling_prob}")
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.input_feeding, self.sampling_prob = input_feeding, sampling_prob
        self.encoder = SequenceEncoder(
            vocab_size=source_vocab,
            embedding_dim=embedding_dim,
            padding_idx=pad_id,
            hidden_size=hidden_size // directions,
            num_layers=encoder_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        feature_size = embedding_dim if tie_embeddings else hidden_size  # width of h̃_t
        self.feature_size = feature_size
        self.target_embedding = nn.Embedding(target_vocab, embedding_dim, padding_idx=pad_id)
        first_input = embedding_dim + (feature_size if input_feeding else 0)
        self.decoder = nn.ModuleList(
            LSTMCell(first_input if k == 0 else hidden_size, hidden_size)
            for k in range(decoder_layers)
        )
        self.attention = Attention(attention, hidden_size, hidden_size)
        self.combine = nn.Linear(2 * hidden_size, feature_size, bias=False)  # W_c
        self.drop = nn.Dropout(dropout)
        self.generator = nn.Linear(feature_size, target_vocab)  # W_s, b_s
        if tie_embeddings:
            self.generator.weight = self.target_embedding.weight
        # Decoding never proposes padding or the start token: their scores are -inf there.
        banned = torch.zeros(target_vocab, dtype=torch.bool)
        banned[[pad_id, bos_id]] = True
        self.register_buffer("banned", banned, persistent=False)

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EncoderMemory, DecoderState]:
        """Run the encoder: the memory to attend to and the decoder's initial state.

        Args:
            src: (B, S) source ids, padded with pad_id.
            src_lengths: (B,) valid lengths, each >= 1.
        """
        lengths = src_lengths.to(src.device)
        outputs, (h_n, c_n) = self.encoder(src, lengths)  # (B, S, H)
        memory = EncoderMemory(
            outputs, self.attention.prepare(outputs), valid_mask(lengths, src.shape[1])
        )
        layers = len(self.decoder)
        h0 = self.encoder.last_hidden(h_n).expand(layers, -1, -1).contiguous()  # (L, B, H)
        c0 = self.encoder.last_hidden(c_n).expand(layers, -1, -1).contiguous()
        feed = outputs.new_zeros(src.shape[0], self.feature_size)
        return memory, DecoderState(h0, c0, feed)

    # -- decoder -----------------------------------------------------------------------------
    def attend(self, out: Tensor, memory: EncoderMemory) -> tuple[Tensor, Tensor]:
        """h̃ (.., feature_size) and attention weights from decoder outputs (B, [T,] H)."""
        context, weights = self.attention(out, memory.outputs, memory.mask, memory.prepared)
        return self.drop(torch.tanh(self.combine(torch.cat([context, out], -1)))), weights

    def step_features(
        self, tokens: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoder step from previous tokens (B,): h̃_t (B, A), new state, weights (B, S)."""
        x = self.drop(self.target_embedding(tokens))  # (B, E)
        if self.input_feeding:
            x = torch.cat([x, state.feed], -1)
        hs, cs = [], []
        for k, cell in enumerate(self.decoder):
            h, c = cell(x if k == 0 else self.drop(hs[-1]), (state.h[k], state.c[k]))  # (B, H)
            hs.append(h)
            cs.append(c)
        features, weights = self.attend(hs[-1], memory)
        return features, DecoderState(torch.stack(hs), torch.stack(cs), features), weights

    def step(
        self, tokens: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, DecoderState, Tensor]:
        """One decoding step: log-probabilities (B, V) of the next token, new state, weights.

        Padding and the start token get -inf, and the rest is renormalised over the others.
        """
        features, state, weights = self.step_features(tokens, state, memory)
        logits = self.generator(features).masked_fill(self.banned, float("-inf"))
        return logits.log_softmax(-1), state, weights

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, *, return_attention: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        memory, state = self.encode(src, src_lengths)
        features, weights = self._decode_by_steps(tgt_in, state, memory)
        logits = self.generator(features)  # (B, T, V): one GEMM for all steps
        return (logits, weights) if return_attention else logits

    def _decode_at_once(
        self, tgt_in: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, Tensor]:
        """Teacher forcing without input feeding: no step depends on an earlier output, so
        each layer runs over the whole sequence (the cells' weights, through the engine
        "auto" picks) and the attention covers all steps in one call."""
        x = self.drop(self.target_embedding(tgt_in)).transpose(0, 1)  # (T, B, E)
        for k, cell in enumerate(self.decoder):
            spec = dataclasses.replace(cell.spec(), engine="auto")
            x = x if k == 0 else self.drop(x)
            hx = (state.h[k : k + 1], state.c[k : k + 1])
            x = engine_for(spec, x, False).run(spec, x, None, hx, False).output  # (T, B, H)
        return self.attend(x.transpose(0, 1), memory)  # (B, T, A), (B, T, S)

    def _decode_by_steps(
        self, tgt_in: Tensor, state: DecoderState, memory: EncoderMemory
    ) -> tuple[Tensor, Tensor]:
        sampling = self.training and self.sampling_prob > 0
        if not (self.input_feeding or sampling):
            return self._decode_at_once(tgt_in, state, memory)
        features, weights = [], []
        tokens = tgt_in[:, 0]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                tokens = tgt_in[:, t]
                if sampling:  # scheduled sampling: some rows read their own last guess
                    guess = self.generator(features[-1].detach()).argmax(-1)
                    own = torch.rand(tokens.shape, device=tokens.device) < self.sampling_prob
                    tokens = torch.where(own & (tokens != self.pad_id), guess, tokens)
            feat, state, w = self.step_features(tokens, state, memory)
            features.append(feat)
            weights.append(w)
        return torch.stack(features, 1), torch.stack(weights, 1)  # (B, T, A), (B, T, S)

    @torch.no_grad()
    def score(self, src: Tensor, src_lengths: Tensor, tgt_out: Tensor) -> Tensor:
        """Summed log-probabilities (B,) of given outputs (ending in eos, padded), as decoding
        sees them (padding and the start token excluded), in eval mode."""
        was_training = self.training
        self.eval()
        tgt_in = torch.cat([torch.full_like(tgt_out[:, :1], self.bos_id), tgt_out[:, :-1]], 1)
        logits = self(src, src_lengths, tgt_in)
        self.train(was_training)
        logp = logits.masked_fill(self.banned, float("-inf")).log_softmax(-1)
        picked = logp.gather(-1, tgt_out.clamp_min(0)[..., None]).squeeze(-1)  # (B, T)
        return picked.masked_fill(tgt_out == self.pad_id, 0.0).sum(1)


def sequence_loss(
    logits: Tensor, targets: Tensor, pad_id: int = 0, label_smoothing: float = 0.0
) -> Tensor:
    """Mean cross-entropy per target token (padding ignored), optionally label-smoothed.

    Args:
        logits: (B, T, V); targets: (B, T) with pad_id past each sequence's end.
        label_smoothing: share of the probability spread evenly over the vocabulary
            (Szegedy et al. 2016). Default 0.0.
    """
    return F.cross_entropy(
        logits.flatten(0, 1),
        targets.flatten(),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
    )
