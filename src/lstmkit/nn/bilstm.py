"""A stacked bidirectional LSTM over padded batches that never packs them.

Padding only ever follows a sequence's valid steps, so the forward direction may run over
the padded batch as it is; the backward direction runs forward over each sequence reversed
within its own length (`reverse_padded`), which puts its padding at the end too. The result
equals ``LSTM(bidirectional=True)(x, lengths=lengths)`` on the valid steps
(tests/test_tag_nn.py), with plain tensors throughout instead of a PackedSequence. It is
not faster: `benchmarks/probes/padded_bilstm.py` (2 layers, B=32, T=25, 150 inputs, 128
units, a training step) measured 110-178 ms against 110-156 ms for the packed layer, ratio
0.86-1.00, at load ~4 on the 2-core machine.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from lstmkit.layers import LSTM

__all__ = ["PaddedBiLSTM", "reverse_padded"]


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse the first ``lengths[b]`` steps of each sequence of ``x`` (B, T, ...); the
    padding after them stays where it is. Its own inverse."""
    steps = x.shape[1]
    position = torch.arange(steps, device=x.device)[None, :]  # (1, T)
    mirrored = lengths.to(x.device)[:, None] - 1 - position  # (B, T)
    index = torch.where(mirrored >= 0, mirrored, position)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, index)


class PaddedBiLSTM(nn.Module):
    """Stacked bidirectional LSTM on batch-first padded input with lengths, without packing.

    Layer l runs a forward lstmkit `LSTM` over its input and another over the input
    reversed per sequence; their outputs, the backward one reversed back, are concatenated
    (forward first, as torch orders directions) and feed layer l + 1 through dropout.

    Args:
        input_size: features per step.
        hidden_size: units per direction.
        num_layers: stacked layers. Default 1.
        dropout: on each layer's output except the last, in training. Default 0.0.
        **layer_options: passed to every `LSTM` (``engine``, ``layer_norm``, ...).

    Inputs: x (B, T, input_size), lengths (B,).
    Outputs: (B, T, 2 * hidden_size), zero past each length.

    >>> rnn = PaddedBiLSTM(8, 16, num_layers=2)
    >>> rnn(torch.randn(3, 5, 8), torch.tensor([5, 2, 1])).shape
    torch.Size([3, 5, 32])
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        **layer_options: Any,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(
            LSTM(n, hidden_size, batch_first=True, **layer_options) for n in sizes
        )
        self.backward_layers = nn.ModuleList(
            LSTM(n, hidden_size, batch_first=True, **layer_options) for n in sizes
        )
        self.drop = nn.Dropout(dropout)
        self.output_size = 2 * hidden_size

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None])[..., None]
        for depth, (ahead, behind) in enumerate(zip(self.forward_layers, self.backward_layers)):
            if depth:
                x = self.drop(x)
            out_f, _ = ahead(x)  # (B, T, H)
            out_b, _ = behind(reverse_padded(x, lengths))
            x = torch.cat([out_f, reverse_padded(out_b, lengths)], dim=-1) * mask  # (B, T, 2H)
        return x

    def load_bidirectional(self, lstm: LSTM) -> None:
        """Copy the weights of an lstmkit or torch bidirectional LSTM of the same sizes."""
        state = lstm.state_dict()
        for depth, (ahead, behind) in enumerate(zip(self.forward_layers, self.backward_layers)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                with torch.no_grad():
                    getattr(ahead, f"{name}_l0").copy_(state[f"{name}_l{depth}"])
                    getattr(behind, f"{name}_l0").copy_(state[f"{name}_l{depth}_reverse"])
