"""The export table: how each layer variant exports and its max abs error against lstmkit.

    python benchmarks/export_table.py

Each row: a 2-layer layer with random weights of order one, exported with lengths as an
input, checked by onnxruntime at batch 1, 5 and 16 with mixed lengths (`export.check`).
"""

from __future__ import annotations

import torch

import lstmkit
from lstmkit.export.check import mixed_lengths, verify
from lstmkit.export.layer import layer_model

ROWS = {
    "LSTM": (lstmkit.LSTM, {}),
    "peephole": (lstmkit.LSTM, {"peephole": True}),
    "layer norm": (lstmkit.LSTM, {"layer_norm": True}),
    "CIFG": (lstmkit.LSTM, {"cifg": True}),
    "projection (LSTMP)": (lstmkit.LSTM, {"proj_size": 4}),
    "forget bias 1": (lstmkit.LSTM, {"forget_bias": 1.0}),
    "recurrent dropout 0.3 (eval: identity)": (lstmkit.LSTM, {"recurrent_dropout": 0.3}),
    "zoneout 0.2 (eval: expectation)": (lstmkit.LSTM, {"zoneout": 0.2}),
    "all of peephole, CIFG, layer norm, projection": (
        lstmkit.LSTM,
        {"peephole": True, "cifg": True, "layer_norm": True, "proj_size": 4},
    ),
    "GRU": (lstmkit.GRU, {}),
    "GRU + zoneout 0.2": (lstmkit.GRU, {"zoneout": 0.2}),
    "RNN tanh": (lstmkit.RNN, {}),
}


class Call(torch.nn.Module):
    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x, lengths):
        return self.layer(x, lengths=lengths)


def row(cls, options: dict, bidirectional: bool) -> tuple[str, float]:
    layer = cls(6, 8, num_layers=2, bidirectional=bidirectional, **options)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.6)
    layer.eval()
    model = layer_model(layer)
    ops = {n.op_type for n in model.graph.node}
    op = next((o for o in ("LSTM", "GRU", "RNN") if o in ops), "Scan")

    def sample(b, t, g):
        return torch.randn(t, b, 6, generator=g), mixed_lengths(b, t, g)

    return op, verify(model, Call(layer), sample, ["input", "lengths"])


def main() -> None:
    print("| layer (2 layers, lengths as input) | ONNX ops | max abs error, uni | bi |")
    print("|---|---|---|---|")
    for name, (cls, options) in ROWS.items():
        op, uni = row(cls, options, False)
        _, bi = row(cls, options, True)
        print(f"| {name} | {op} | {uni:.1e} | {bi:.1e} |")


if __name__ == "__main__":
    main()
