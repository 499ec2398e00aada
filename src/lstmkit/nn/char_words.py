"""Character-level word features: each word's characters through a BiLSTM, one vector a word.

Lample et al. (2016) and Plank et al. (2016): the forward LSTM's state after a word's last
character and the backward LSTM's state after its first (having read the word right to
left), concatenated. They see prefixes, suffixes, capitals and digits, so a word never
seen in training still gets an informative vector.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.nn.bilstm import PaddedBiLSTM

__all__ = ["CharWordEncoder"]


class CharWordEncoder(nn.Module):
    """Words as padded character ids (W, L) -> one feature vector per word (W, 2 * hidden_size).

    Args:
        num_chars: size of the character vocabulary (id 0 is padding).
        char_dim: character embedding width. Default 32.
        hidden_size: units per direction of the character BiLSTM. Default 64.
        dropout: on the character embeddings, in training. Default 0.0.
        **layer_options: passed to the LSTM layers.

    Inputs: chars (W, L) ids with 0 past each word's end, lengths (W,) >= 1.
    Outputs: (W, 2 * hidden_size): [forward state at the last char, backward at the first].

    >>> enc = CharWordEncoder(num_chars=50, char_dim=8, hidden_size=16)
    >>> enc(torch.randint(1, 50, (4, 7)), torch.tensor([7, 3, 1, 5])).shape
    torch.Size([4, 32])
    """

    def __init__(
        self,
        num_chars: int,
        char_dim: int = 32,
        hidden_size: int = 64,
        dropout: float = 0.0,
        **layer_options: Any,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.rnn = PaddedBiLSTM(char_dim, hidden_size, **layer_options)
        self.hidden_size = hidden_size
        self.output_size = 2 * hidden_size

    def forward(self, chars: Tensor, lengths: Tensor) -> Tensor:
        if chars.dim() != 2 or lengths.shape != chars.shape[:1]:
            raise ValueError(
                f"chars must be (W, L) with lengths (W,), got {tuple(chars.shape)} and "
                f"{tuple(lengths.shape)}"
            )
        if bool((lengths < 1).any()):
            raise ValueError("every word needs at least one character (lengths >= 1)")
        out = self.rnn(self.drop(self.embedding(chars)), lengths)  # (W, L, 2H)
        h = self.hidden_size
        last = (lengths - 1).to(out.device)[:, None, None].expand(-1, 1, h)
        forward_end = out[:, :, :h].gather(1, last).squeeze(1)  # after the last character
        backward_end = out[:, 0, h:]  # the backward pass ends at the first character
        return torch.cat([forward_end, backward_end], dim=-1)
